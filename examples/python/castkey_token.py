#!/usr/bin/env python3
"""Get an access token from Castkey, with nothing but Python's standard library.

Castkey keeps the streamer's sign-ins and hands out access tokens over a local
socket (JSON-RPC 2.0, one JSON object per line; the contract is docs/ipc.md).
This file is both a command and a module:

    python3 castkey_token.py                 # prints "Bearer eyJ..." (the Authorization header value)
    python3 castkey_token.py --json          # the whole answer: token, expiry, scopes, account, headers
    python3 castkey_token.py --subscribe     # prints notifications (active_changed, token_refreshed, ...) as they come

    curl -H "Authorization: $(python3 castkey_token.py)" https://api.example.com/me

As a module (copy this file next to your code):

    from castkey_token import CastkeyClient, CastkeyError

    with CastkeyClient(name="My Streaming Tool", version="2.1") as castkey:
        grant = castkey.token(scope="broadcaster")
        headers = grant["headers"]          # {"Authorization": "Bearer ...", ...}

Exit codes of the command (scripts can branch on them):

     0  the token was printed (or --subscribe ended by Ctrl-C)
     1  anything else (the message says what)
     2  bad command-line arguments
     3  Castkey is not running (nothing listens on the socket)
     4  not_signed_in / unknown_account: sign in first
     5  provider_unavailable: the provider could not be reached; try later
     6  reauth_required: the provider refused the stored sign-in; sign in again
     7  client_not_allowed: Castkey does not serve this program (see the hint)
     8  consent_denied / consent_timeout: the user said no, or nobody answered
     9  scope_not_granted / scope_not_allowed
    10  keychain_unavailable: the OS keychain is locked or not running
    11  the socket is not safe to talk to (not this user's, or writable by others)

Before the first token, Castkey must allow this program. The desktop app asks
the user in its window on first use; the headless broker (`castkey serve`)
serves only the programs listed beforehand:

    castkey apps allow "$(python3 -c 'import os; print(os.readlink("/proc/self/exe"))')" \\
        --script "$(readlink -f castkey_token.py)"

(Castkey knows a script by the interpreter's real executable, as the OS
reports it in /proc/<pid>/exe, plus the script's absolute path.)
"""

import argparse
import json
import os
import socket
import stat
import struct
import sys
import time
from collections import deque

__all__ = [
    "CastkeyClient",
    "CastkeyError",
    "NotRunning",
    "UnsafeSocket",
    "RpcError",
    "default_socket_path",
    "check_socket",
    "EXIT_CODES",
]

PROTOCOL_VERSION = 1
MAX_LINE_BYTES = 64 * 1024
BROADCASTER_SCOPE = "broadcaster"
# Room for a socket path in sockaddr_un.sun_path, its NUL included.
SUN_PATH_LEN = 108 if sys.platform.startswith("linux") else 104
# How long to wait for an answer by default. A token can wait for the user to
# answer Castkey's consent question (at most 120 s), so give it longer.
DEFAULT_TIMEOUT = 150.0


class CastkeyError(Exception):
    """Anything that went wrong talking to Castkey.

    `reason` is Castkey's stable `error.data.reason` when the broker refused
    the request (branch on it, not on the message, which is for people).
    """

    def __init__(self, message, reason=None, code=None, data=None):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.code = code
        self.data = data or {}


class NotRunning(CastkeyError):
    """Nothing listens on the socket: the Castkey app or `castkey serve` is not running."""

    def __init__(self, path):
        super().__init__(
            "Castkey is not running (nothing listens on %s): start the Castkey app or `castkey serve`" % path,
            reason="not_running",
        )
        self.path = path


class UnsafeSocket(CastkeyError):
    """The socket or its directory could be someone else's: refused before connecting."""

    def __init__(self, message):
        super().__init__(message, reason="unsafe_socket")


class RpcError(CastkeyError):
    """Castkey answered the request with a JSON-RPC error."""


# Exit codes of the command, by reason (see the module's docstring).
EXIT_CODES = {
    "not_running": 3,
    "not_signed_in": 4,
    "unknown_account": 4,
    "provider_unavailable": 5,
    "reauth_required": 6,
    "client_not_allowed": 7,
    "consent_denied": 8,
    "consent_timeout": 8,
    "scope_not_granted": 9,
    "scope_not_allowed": 9,
    "keychain_unavailable": 10,
    "unsafe_socket": 11,
}


def default_socket_path():
    """Where Castkey listens, as castkey_ipc::socket::default_socket_path says.

    $CASTKEY_SOCKET if set, else $XDG_RUNTIME_DIR/castkey/castkey.sock, else
    <temp dir>/castkey-<uid>/castkey.sock (the temp dir is $TMPDIR or /tmp).
    """
    path = os.environ.get("CASTKEY_SOCKET")
    if path:
        return path
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "castkey", "castkey.sock")
    tmp = os.environ.get("TMPDIR") or "/tmp"
    return os.path.join(tmp, "castkey-%d" % os.getuid(), "castkey.sock")


def _check_owned(path, st, what, root_ok=False):
    uid = os.getuid()
    if st.st_uid != uid and not (root_ok and st.st_uid == 0):
        raise UnsafeSocket("%s %s belongs to user id %d, not to you (%d): refusing to use it" % (what, path, st.st_uid, uid))
    if st.st_mode & 0o022:
        raise UnsafeSocket(
            "%s %s can be changed by other users (mode %o): refusing to use it" % (what, path, stat.S_IMODE(st.st_mode))
        )


def check_socket(path):
    """Refuses a socket that another user could have put there or could replace.

    The same checks as Castkey's own client (castkey_ipc::socket::check_socket),
    symbolic links followed: the directory must belong to this user (or to
    root) and the socket to this user, and neither may be writable by group
    or others (Castkey makes them 0700 and 0600). Raises NotRunning when
    there is no socket, UnsafeSocket otherwise.
    """
    if len(os.fsencode(path)) >= SUN_PATH_LEN:
        raise NotRunning(path)  # no broker can listen on a path that long
    directory = os.path.dirname(os.path.abspath(path))
    try:
        dir_st = os.stat(directory)
    except (FileNotFoundError, NotADirectoryError):
        raise NotRunning(path) from None
    _check_owned(directory, dir_st, "the socket's directory", root_ok=True)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise NotRunning(path) from None
    if not stat.S_ISSOCK(st.st_mode):
        raise UnsafeSocket("%s is not a socket: refusing to use it" % path)
    _check_owned(path, st, "the socket")


def _peer_uid(sock):
    """The user id of the process at the other end (Linux), or None where the OS does not say."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


class CastkeyClient:
    """One connection to Castkey. Requests are answered in order.

    `name` and `version` are sent in `hello`: Castkey shows them to the user
    beside what the OS says about this process (they decide nothing).
    Use it as a context manager, or call close().

    Methods raise NotRunning, UnsafeSocket, RpcError (with `.reason`) or
    CastkeyError (anything else: a closed connection, a timeout...).
    """

    def __init__(self, path=None, name=None, version=None, timeout=DEFAULT_TIMEOUT, check=True):
        self.path = path or default_socket_path()
        self.name = name
        self.version = version
        self.timeout = timeout
        self.hello_result = None
        self._sock = None
        self._buf = b""
        self._next_id = 1
        self._notifications = deque()
        if check:
            check_socket(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(self.path)
            peer = _peer_uid(sock)
            if peer is not None and peer != os.getuid():
                raise UnsafeSocket("the process listening on %s runs as user id %d, not as you: refusing it" % (self.path, peer))
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise NotRunning(self.path) from None
        except OSError as e:
            sock.close()
            raise CastkeyError("connecting to Castkey at %s failed: %s" % (self.path, e)) from None
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        if name is not None or version is not None:
            self.hello(name, version)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- requests ---------------------------------------------------------

    def call(self, method, params=None, timeout=None):
        """Sends one request and answers its `result`; raises RpcError for an error answer.

        Notifications that arrive meanwhile (on a subscribed connection) are
        kept for next_notification().
        """
        if self._sock is None:
            raise CastkeyError("the connection to Castkey is closed")
        request_id = self._next_id
        self._next_id += 1
        request = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            request["params"] = params
        line = json.dumps(request, separators=(",", ":")).encode() + b"\n"
        try:
            self._sock.settimeout(self.timeout)
            self._sock.sendall(line)
        except OSError as e:
            raise CastkeyError("talking to Castkey failed: %s" % e) from None
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CastkeyError("Castkey did not answer `%s` in time" % method)
            message = self._read_message(left)
            if message is None:
                raise CastkeyError("Castkey did not answer `%s` in time" % method)
            if "method" in message and message.get("id") is None:
                self._notifications.append(message)
                continue
            # An error about a line Castkey could not read at all has id null.
            if message.get("id") != request_id and not (message.get("id") is None and "error" in message):
                raise CastkeyError("Castkey answered request %r while this client waited for %d" % (message.get("id"), request_id))
            error = message.get("error")
            if error is not None:
                data = error.get("data") or {}
                raise RpcError(error.get("message", "error"), reason=data.get("reason"), code=error.get("code"), data=data)
            if "result" not in message:
                raise CastkeyError("Castkey answered with neither a result nor an error")
            return message["result"]

    def hello(self, name=None, version=None):
        """Says who this client is; answers what the broker speaks and what the user decided about this client.

        Optional, and the only method allowed before the user approved the
        client. An older broker without `hello` is fine: None comes back.
        """
        params = {"protocol": PROTOCOL_VERSION}
        if name is not None:
            params["name"] = name
        if version is not None:
            params["version"] = version
        try:
            self.hello_result = self.call("hello", params)
        except RpcError as e:
            if e.code == -32601:  # a broker older than `hello`
                return None
            raise
        return self.hello_result

    def token(self, scope=BROADCASTER_SCOPE, provider=None, account=None, min_valid_secs=None, force_refresh=None):
        """A valid access token: {"access_token", "token_type", "expires_at", "scope", "account", "headers"}.

        `headers` is ready to put on an HTTP request to the service
        (always `Authorization`). `force_refresh=True` when the service just
        refused the token you hold.
        """
        params = {}
        if scope is not None:
            params["scope"] = scope
        if provider is not None:
            params["provider"] = provider
        if account is not None:
            params["account"] = account
        if min_valid_secs is not None:
            params["min_valid_secs"] = int(min_valid_secs)
        if force_refresh:
            params["force_refresh"] = True
        return self.call("token", params)

    def accounts(self):
        """The accounts Castkey holds (no secrets)."""
        return self.call("accounts", {})

    def subscribe(self):
        """From now on this connection also receives notifications; answers their names."""
        return self.call("subscribe", {})

    def next_notification(self, timeout=None):
        """The next notification as (method, params), or None if none came within `timeout` seconds.

        `timeout=None` waits for ever. Raises CastkeyError when Castkey
        closes the connection.
        """
        while True:
            if self._notifications:
                message = self._notifications.popleft()
                return message.get("method"), message.get("params")
            message = self._read_message(timeout)
            if message is None:
                return None
            if "method" in message and message.get("id") is None:
                return message.get("method"), message.get("params")
            # An answer nobody waits for: ignore it.

    # -- framing ----------------------------------------------------------

    def _read_message(self, timeout):
        """One JSON message from the socket, or None on timeout."""
        while b"\n" not in self._buf:
            if len(self._buf) > MAX_LINE_BYTES:
                self.close()
                raise CastkeyError("Castkey sent a line over 64 KiB")
            try:
                self._sock.settimeout(timeout)
                chunk = self._sock.recv(65536)
            except socket.timeout:
                return None
            except OSError as e:
                raise CastkeyError("talking to Castkey failed: %s" % e) from None
            if not chunk:
                self.close()
                raise CastkeyError("Castkey closed the connection")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        try:
            return json.loads(line)
        except ValueError:
            raise CastkeyError("Castkey sent something that is not JSON: %r" % line[:200]) from None


# -- the command -----------------------------------------------------------


def this_program():
    """(executable, script) as Castkey sees this process: what `castkey apps allow` takes."""
    try:
        exe = os.readlink("/proc/self/exe")
    except OSError:
        exe = os.path.realpath(sys.executable)
    return exe, os.path.realpath(sys.argv[0])


def hint(error):
    """What the user can do about an error, in a sentence or two."""
    reason = error.reason
    if reason == "client_not_allowed":
        exe, script = this_program()
        return (
            "Allow this program in the Castkey window, or on a headless broker (castkey serve) with:\n"
            "  castkey apps allow %s --script %s" % (exe, script)
        )
    if reason in ("not_signed_in", "unknown_account"):
        return "Sign in first: in the Castkey window, or with `castkey login <provider>`."
    if reason == "reauth_required":
        return "The provider no longer accepts the stored sign-in: sign in again in Castkey."
    if reason == "consent_denied":
        return "This program was denied in Castkey; it asks again after a few minutes."
    if reason == "consent_timeout":
        return "Nobody answered Castkey's question whether this program may have a token: try again and answer it."
    if reason in ("scope_not_granted", "scope_not_allowed"):
        return "Ask for another scope (--scope), or sign in again granting it / allow it for this program in Castkey."
    if reason == "provider_unavailable":
        after = error.data.get("retry_after_secs")
        return "Try again %s." % ("in %d s" % after if after else "later")
    if reason == "keychain_unavailable":
        detail = error.data.get("detail")
        return "Unlock or start the OS keychain%s." % (" (%s)" % detail if detail else "")
    return None


def report(error, prog):
    """Prints an error the way the command does; answers the exit code."""
    if isinstance(error, RpcError):
        print("%s: Castkey refused: %s [%s]" % (prog, error.message, error.reason or "code %s" % error.code), file=sys.stderr)
    else:
        print("%s: %s" % (prog, error.message), file=sys.stderr)
    more = hint(error)
    if more:
        print(more, file=sys.stderr)
    return EXIT_CODES.get(error.reason, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Get an access token from Castkey (standard library only).")
    parser.add_argument("--scope", default=BROADCASTER_SCOPE, help="space-separated scopes (default: broadcaster)")
    parser.add_argument("--provider", help="provider id, e.g. sandbox (default: the active account's)")
    parser.add_argument("--account", help="account id from `castkey accounts`")
    parser.add_argument("--min-valid", type=int, metavar="SECS", help="refresh first if the token expires sooner")
    parser.add_argument("--refresh", action="store_true", help="refresh even a valid token (the service refused it)")
    parser.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    parser.add_argument("--subscribe", action="store_true", help="print notifications as they come, until Ctrl-C")
    parser.add_argument("--socket", help="socket path (default: as Castkey's)")
    args = parser.parse_args(argv)
    prog = os.path.basename(sys.argv[0]) or "castkey_token.py"
    try:
        with CastkeyClient(args.socket, name="castkey_token.py example", version="1") as castkey:
            standing = (castkey.hello_result or {}).get("client", {}).get("approval")
            if standing == "unknown":
                print("%s: Castkey has not approved this program yet: the Castkey window asks you "
                      "(a headless broker refuses it)" % prog, file=sys.stderr)
            if args.subscribe:
                return subscribe(castkey, args, prog)
            grant = castkey.token(args.scope, args.provider, args.account, args.min_valid, args.refresh)
    except CastkeyError as e:
        return report(e, prog)
    if args.json:
        print(json.dumps(grant, indent=2))
    else:
        print(grant["headers"]["Authorization"])
    return 0


def subscribe(castkey, args, prog):
    names = castkey.subscribe()
    print("%s: subscribed to %s (Ctrl-C stops)" % (prog, ", ".join(names)), file=sys.stderr)
    sys.stderr.flush()
    try:
        while True:
            method, params = castkey.next_notification()
            if args.json:
                print(json.dumps({"method": method, "params": params}), flush=True)
            else:
                print("%s %s" % (method, json.dumps(params, separators=(",", ":"))), flush=True)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
