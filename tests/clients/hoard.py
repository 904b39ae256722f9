#!/usr/bin/env python3
"""A program nobody approved that tries to shut others out of Castkey's
socket, for the benchmark (tests/src/bin/ipc_bench.rs): `hoard.py <socket>
<connections> <seconds>` keeps up to <connections> connections open, sends a
byte on each every 200 ms (never a whole line), and reconnects whenever the
broker closes one. Prints how many it had open at most (on its side: connections still in the listen queue count) and how many the broker closed. Standard library
only."""
import socket, sys, time

path, wanted, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
socks, closed, most = [], 0, 0
end = time.time() + secs
while time.time() < end:
    while len(socks) < wanted:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
        except OSError:
            s.close()
            closed += 1
            break
        s.setblocking(False)
        socks.append(s)
    for s in list(socks):
        try:
            s.send(b" ")
            try:
                s.recv(4096)  # any answer is `busy` or a closing error, or the end
            except BlockingIOError:
                continue  # nothing to read: still held
            socks.remove(s)
            s.close()
            closed += 1
        except OSError:
            socks.remove(s)
            s.close()
            closed += 1
    most = max(most, len(socks))
    time.sleep(0.2)
print(f"up to {most} open on its side, {closed} closed by the broker")
