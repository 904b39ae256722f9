"""An OBS Studio script (Tools > Scripts), as a streamer would add one to
get a broadcaster token from Castkey: every second it says hello as "OBS
Studio", asks for a token with no parameters and appends both answers as
one JSON line to $CASTKEY_OBS_OUT. It runs inside OBS's own process, so
Castkey sees OBS's executable, not a Python script
(tests/tests/obs.rs)."""
import json, os, socket

import obspython as obs


def ask():
    path = os.environ.get("CASTKEY_SOCKET") or os.path.join(os.environ["XDG_RUNTIME_DIR"], "castkey", "castkey.sock")
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(path)
        stream = sock.makefile("rwb")

        def call(id, method, params):
            line = json.dumps({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
            stream.write(line.encode() + b"\n")
            stream.flush()
            return json.loads(stream.readline())

        said = {
            "hello": call(1, "hello", {"name": "OBS Studio", "version": obs.obs_get_version_string()}),
            "token": call(2, "token", {}),
        }
        sock.close()
    except Exception as e:  # shown to the scenario, which says what went wrong
        said = {"error": repr(e)}
    with open(os.environ["CASTKEY_OBS_OUT"], "a") as f:
        f.write(json.dumps(said) + "\n")


def script_description():
    return "Asks Castkey for a broadcaster token every second (Castkey's test scenario)."


def script_load(settings):
    ask()
    obs.timer_add(ask, 1000)


def script_unload():
    obs.timer_remove(ask)
