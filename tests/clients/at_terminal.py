#!/usr/bin/env python3
"""Types a command at an interactive shell on a terminal of its own, as a
person does: `at_terminal.py <dir> <program> [args...]`.

Starts `bash --norc --noprofile -i` on a new pseudo-terminal (its controlling
terminal, with job control), types the command with its output sent to
<dir>/stdout and <dir>/stderr, and its exit code to <dir>/status, then `exit`.
What this script reads on its standard input is typed after the command,
for the command to read from the terminal (answers to its prompts).
Castkey treats a `castkey` command run this way as the user's own action
(docs/security.md: a person at a terminal; forgeable by same-user code, which
is why it is not a security boundary). Standard library only."""
import os, pty, shlex, sys

out_dir, argv = sys.argv[1], sys.argv[2:]
line = " ".join(shlex.quote(a) for a in argv)
files = {k: shlex.quote(os.path.join(out_dir, k)) for k in ("stdout", "stderr", "status")}
typed = f"{line} >{files['stdout']} 2>{files['stderr']}; echo $? >{files['status']}; exit\n"
answers = sys.stdin.buffer.read()

pid, fd = pty.fork()
if pid == 0:
    os.environ["PS1"] = "$ "
    os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
os.write(fd, typed.encode())
if answers:
    os.write(fd, answers)
seen = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:  # EIO: the shell exited and the terminal closed
        break
    if not chunk:
        break
    seen += chunk
_, status = os.waitpid(pid, 0)
if not os.path.exists(os.path.join(out_dir, "status")):
    sys.stderr.write("the shell did not run the command; the terminal showed:\n" + seen.decode(errors="replace"))
    sys.exit(2)
