#!/usr/bin/env python3
"""A local program as the consent scenarios need one: connects to Castkey's
socket, says hello with the name in argv[1], asks for a token with no
parameters and prints both answers as one JSON line. Standard library only.
The scenarios copy it to a path of their own: Castkey knows a script by its
path (tests/tests/consent_window.rs, screens.rs)."""
import json, os, socket, sys

path = os.environ.get("CASTKEY_SOCKET") or os.path.join(os.environ["XDG_RUNTIME_DIR"], "castkey", "castkey.sock")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(path)
stream = sock.makefile("rwb")

def call(id, method, params):
    line = json.dumps({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
    stream.write(line.encode() + b"\n")
    stream.flush()
    return json.loads(stream.readline())

hello = call(1, "hello", {"name": sys.argv[1], "version": "1.0"})
token = call(2, "token", {})
print(json.dumps({"hello": hello, "token": token}))
