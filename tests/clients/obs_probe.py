"""A probe loaded into OBS Studio beside examples/obs/castkey_obs.py (the
script under test): every second it writes the current streaming service's
type, stream key and bearer token as one JSON line to $CASTKEY_OBS_OUT, so
that the scenario sees what OBS itself holds (tests/tests/obs.rs)."""
import json, os

import obspython as obs


def look():
    service = obs.obs_frontend_get_streaming_service()  # borrowed: not released
    seen = {"type": None, "key": None, "bearer_token": None}
    if service is not None:
        seen["type"] = obs.obs_service_get_type(service)
        settings = obs.obs_service_get_settings(service)
        try:
            seen["key"] = obs.obs_data_get_string(settings, "key")
            seen["bearer_token"] = obs.obs_data_get_string(settings, "bearer_token")
        finally:
            obs.obs_data_release(settings)
    with open(os.environ["CASTKEY_OBS_OUT"], "a") as f:
        f.write(json.dumps(seen) + "\n")


def script_description():
    return "Writes the streaming service's key to $CASTKEY_OBS_OUT every second (Castkey's test probe)."


def script_load(settings):
    look()
    obs.timer_add(look, 1000)


def script_unload():
    obs.timer_remove(look)
