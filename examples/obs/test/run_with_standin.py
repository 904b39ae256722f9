#!/usr/bin/env python3
"""Runs castkey_obs.py the way OBS Studio loads a Python script, under the
stand-in `obspython` module next to this file (not OBS: see obspython.py),
and prints what the script did to the streaming service, as JSON.

    python3 examples/obs/test/run_with_standin.py [--service rtmp_custom|whip_custom]
        [--set name=value ...] [--wait SECS] [--until set|error] [path/to/castkey_obs.py]

The order of calls is OBS's (shared/obs-scripting/obs-scripting-python.c):
import, script_defaults, script_description, script_load, script_update;
then its timers run (here every 100 ms of real time) until the token is in
the service's settings (`--until set`, the default) or the script logged an
error (`--until error`), at most --wait seconds; then script_unload.

Exit status 0 when the wait ended as asked, 1 otherwise. Castkey sees this
process as python3 running this file: that is the identity to approve.
"""

import argparse
import importlib.util
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # `import obspython` finds the stand-in

import obspython as obs  # noqa: E402  (the stand-in)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("script", nargs="?", default=os.path.join(HERE, os.pardir, "castkey_obs.py"))
    parser.add_argument("--service", default="rtmp_custom", help="the streaming service's type id")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a script setting")
    parser.add_argument("--wait", type=float, default=20.0)
    parser.add_argument("--until", choices=("set", "error"), default="set")
    args = parser.parse_args()

    service = obs._standin_set_service(args.service, {"server": "rtmp://ingest.example.test/live"})
    setting = {"rtmp_custom": "key", "whip_custom": "bearer_token"}.get(args.service, "key")

    script = os.path.realpath(args.script)
    script_dir = os.path.dirname(script)
    sys.path.append(script_dir)  # OBS adds the script's directory to sys.path
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(script))[0], script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__script_dir__ = script_dir + "/"
    module.script_path = lambda: module.__script_dir__

    settings = obs.obs_data_create()
    if hasattr(module, "script_defaults"):
        module.script_defaults(settings)
    description = module.script_description() if hasattr(module, "script_description") else ""
    module.script_load(settings)
    for pair in args.set:
        name, _, value = pair.partition("=")
        if value.isdigit():
            obs.obs_data_set_int(settings, name, int(value))
        elif value in ("true", "false"):
            obs.obs_data_set_bool(settings, name, value == "true")
        else:
            obs.obs_data_set_string(settings, name, value)
    module.script_update(settings)
    props = module.script_properties()

    reached = False
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        time.sleep(0.1)
        obs.run_timers(100)
        if args.until == "set" and service.settings.values.get(setting):
            reached = True
            break
        if args.until == "error" and any(level == "error" for level, _ in obs.log):
            reached = True
            break

    module.script_unload()
    obs.run_timers(2000)  # nothing may run after unload
    print(
        json.dumps(
            {
                "service": {"type": service.type, "settings": service.settings.values, "updates": service.updates},
                "log": obs.log,
                "calls": [name for name, _ in obs.calls],
                "timers_left": len(obs.timers),
                "properties": [p.name for p in props.items],
                "description": description,
                # The service holds one reference to its settings, this runner one to the script's.
                "unreleased_obs_data": (service.settings.refs - 1) + (settings.refs - 1),
                "reached": reached,
            },
            indent=2,
        )
    )
    return 0 if reached else 1


if __name__ == "__main__":
    sys.exit(main())
