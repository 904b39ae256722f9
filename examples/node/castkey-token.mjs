#!/usr/bin/env node
// Get an access token from Castkey, with nothing but Node's standard library
// (Node 20 or later). The same behaviour as examples/python/castkey_token.py.
//
// Castkey keeps the streamer's sign-ins and hands out access tokens over a
// local socket (JSON-RPC 2.0, one JSON object per line; the contract is
// docs/ipc.md).
//
//   node castkey-token.mjs               # prints "Bearer eyJ..." (the Authorization header value)
//   node castkey-token.mjs --json        # the whole answer: token, expiry, scopes, account, headers
//   node castkey-token.mjs --subscribe   # prints notifications (active_changed, token_refreshed, ...) as they come
//
// As a module:
//
//   import { CastkeyClient } from './castkey-token.mjs';
//   const castkey = await CastkeyClient.connect({ name: 'My Streaming Tool', version: '2.1' });
//   try {
//     const grant = await castkey.token({ scope: 'broadcaster' });
//     await fetch(url, { headers: grant.headers });
//   } finally {
//     castkey.close();
//   }
//
// Exit codes: 0 printed, 1 anything else, 2 bad arguments, 3 Castkey is not
// running, 4 not_signed_in / unknown_account, 5 provider_unavailable,
// 6 reauth_required, 7 client_not_allowed, 8 consent_denied / consent_timeout,
// 9 scope_not_granted / scope_not_allowed, 10 keychain_unavailable, 11 the
// socket is not safe to talk to.
//
// Before the first token, Castkey must allow this program: the desktop app
// asks in its window; the headless broker (`castkey serve`) serves only the
// programs listed beforehand:
//
//   castkey apps allow "$(node -p 'require("fs").readlinkSync("/proc/self/exe")')" \
//       --script "$(readlink -f castkey-token.mjs)"

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

export const PROTOCOL_VERSION = 1;
export const MAX_LINE_BYTES = 64 * 1024;
export const BROADCASTER_SCOPE = 'broadcaster';
// A token can wait for the user to answer Castkey's consent question (at most
// 120 s), so wait longer than that by default.
export const DEFAULT_TIMEOUT_MS = 150_000;

/** Anything that went wrong talking to Castkey; `reason` is Castkey's stable `error.data.reason`. */
export class CastkeyError extends Error {
  constructor(message, { reason = null, code = null, data = {} } = {}) {
    super(message);
    this.name = 'CastkeyError';
    this.reason = reason;
    this.code = code;
    this.data = data ?? {};
  }
}

/** Exit codes of the command, by reason. */
export const EXIT_CODES = {
  not_running: 3,
  not_signed_in: 4,
  unknown_account: 4,
  provider_unavailable: 5,
  reauth_required: 6,
  client_not_allowed: 7,
  consent_denied: 8,
  consent_timeout: 8,
  scope_not_granted: 9,
  scope_not_allowed: 9,
  keychain_unavailable: 10,
  unsafe_socket: 11,
};

/**
 * Where Castkey listens, as castkey_ipc::socket::default_socket_path says:
 * $CASTKEY_SOCKET, else $XDG_RUNTIME_DIR/castkey/castkey.sock, else
 * <temp dir>/castkey-<uid>/castkey.sock (the temp dir is $TMPDIR or /tmp).
 */
export function defaultSocketPath() {
  if (process.env.CASTKEY_SOCKET) return process.env.CASTKEY_SOCKET;
  if (process.env.XDG_RUNTIME_DIR) return path.join(process.env.XDG_RUNTIME_DIR, 'castkey', 'castkey.sock');
  return path.join(process.env.TMPDIR || '/tmp', `castkey-${process.getuid()}`, 'castkey.sock');
}

function notRunning(socketPath) {
  return new CastkeyError(
    `Castkey is not running (nothing listens on ${socketPath}): start the Castkey app or \`castkey serve\``,
    { reason: 'not_running' },
  );
}

function checkOwned(p, st, what, rootOk = false) {
  const uid = process.getuid();
  if (st.uid !== uid && !(rootOk && st.uid === 0)) {
    throw new CastkeyError(`${what} ${p} belongs to user id ${st.uid}, not to you (${uid}): refusing to use it`, {
      reason: 'unsafe_socket',
    });
  }
  if (st.mode & 0o022) {
    throw new CastkeyError(
      `${what} ${p} can be changed by other users (mode ${(st.mode & 0o7777).toString(8)}): refusing to use it`,
      { reason: 'unsafe_socket' },
    );
  }
}

function statOrNotRunning(p, socketPath) {
  try {
    return fs.statSync(p);
  } catch (e) {
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') throw notRunning(socketPath);
    throw e;
  }
}

/**
 * Refuses a socket another user could have put there or could replace: the
 * same checks as Castkey's own client (castkey_ipc::socket::check_socket),
 * symbolic links followed. The directory must belong to this user (or to
 * root) and the socket to this user, and neither may be writable by group or
 * others (Castkey makes them 0700 and 0600).
 */
export function checkSocket(socketPath) {
  // No broker can listen on a path too long for sockaddr_un.sun_path (NUL included).
  if (Buffer.byteLength(socketPath) >= (process.platform === 'linux' ? 108 : 104)) throw notRunning(socketPath);
  const dir = path.dirname(path.resolve(socketPath));
  checkOwned(dir, statOrNotRunning(dir, socketPath), "the socket's directory", true);
  const st = statOrNotRunning(socketPath, socketPath);
  if (!st.isSocket()) throw new CastkeyError(`${socketPath} is not a socket: refusing to use it`, { reason: 'unsafe_socket' });
  checkOwned(socketPath, st, 'the socket');
}

/** One connection to Castkey. Requests are answered in order. */
export class CastkeyClient {
  /**
   * Connects (and sends `hello` when a name or version is given: Castkey
   * shows them to the user beside what the OS says about this process).
   */
  static async connect({ socketPath = defaultSocketPath(), name, version, timeoutMs = DEFAULT_TIMEOUT_MS, check = true } = {}) {
    if (check) checkSocket(socketPath);
    const sock = await new Promise((resolve, reject) => {
      const s = net.createConnection(socketPath);
      s.once('connect', () => {
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (e) =>
        reject(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? notRunning(socketPath) : new CastkeyError(`talking to Castkey failed: ${e.message}`)),
      );
    });
    const client = new CastkeyClient(sock, socketPath, timeoutMs);
    if (name !== undefined || version !== undefined) await client.hello({ name, version });
    return client;
  }

  constructor(sock, socketPath, timeoutMs) {
    this.socketPath = socketPath;
    this.timeoutMs = timeoutMs;
    this.helloResult = null;
    this.sock = sock;
    this.nextId = 1;
    this.buf = Buffer.alloc(0);
    this.messages = []; // lines read, not yet taken
    this.notifications = [];
    this.waiters = []; // resolve functions waiting for a line
    this.closedError = null;
    sock.on('data', (chunk) => this.onData(chunk));
    sock.on('error', (e) => this.onClose(new CastkeyError(`talking to Castkey failed: ${e.message}`)));
    sock.on('close', () => this.onClose(new CastkeyError('Castkey closed the connection')));
  }

  onData(chunk) {
    this.buf = Buffer.concat([this.buf, chunk]);
    let nl;
    while ((nl = this.buf.indexOf(0x0a)) !== -1) {
      const line = this.buf.subarray(0, nl).toString('utf8');
      this.buf = this.buf.subarray(nl + 1);
      let message;
      try {
        message = JSON.parse(line);
      } catch {
        message = { _invalid: line.slice(0, 200) };
      }
      if (message.method !== undefined && (message.id === undefined || message.id === null)) {
        this.notifications.push(message);
      } else {
        this.messages.push(message);
      }
    }
    if (this.buf.length > MAX_LINE_BYTES) {
      this.onClose(new CastkeyError('Castkey sent a line over 64 KiB'));
      this.sock.destroy();
    }
    this.wake();
  }

  onClose(err) {
    if (!this.closedError) this.closedError = err;
    this.wake();
  }

  wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves when something was read or the connection closed, or after `ms` (null: never). */
  waitForInput(ms) {
    return new Promise((resolve) => {
      let timer = null;
      const done = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      this.waiters.push(done);
      if (ms !== null) timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      }, ms);
    });
  }

  close() {
    this.sock.destroy();
  }

  /** Sends one request and resolves to its `result`; rejects with a CastkeyError (with `.reason`). */
  async call(method, params) {
    if (this.closedError) throw this.closedError;
    const id = this.nextId++;
    const request = { jsonrpc: '2.0', id, method };
    if (params !== undefined) request.params = params;
    this.sock.write(JSON.stringify(request) + '\n');
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const message = this.messages.shift();
      if (message !== undefined) {
        if (message._invalid !== undefined) throw new CastkeyError(`Castkey sent something that is not JSON: ${message._invalid}`);
        const err = message.error;
        if (message.id !== id && !(message.id === null && err)) {
          throw new CastkeyError(`Castkey answered request ${message.id} while this client waited for ${id}`);
        }
        if (err) {
          const data = err.data ?? {};
          throw new CastkeyError(err.message ?? 'error', { reason: data.reason ?? null, code: err.code, data });
        }
        if (!('result' in message)) throw new CastkeyError('Castkey answered with neither a result nor an error');
        return message.result;
      }
      if (this.closedError) throw this.closedError;
      const left = deadline - Date.now();
      if (left <= 0) throw new CastkeyError(`Castkey did not answer \`${method}\` in time`);
      await this.waitForInput(left);
    }
  }

  /**
   * Says who this client is; resolves to what the broker speaks and what the
   * user decided about this client (null from a broker older than `hello`).
   */
  async hello({ name, version } = {}) {
    const params = { protocol: PROTOCOL_VERSION };
    if (name !== undefined) params.name = name;
    if (version !== undefined) params.version = version;
    try {
      this.helloResult = await this.call('hello', params);
    } catch (e) {
      if (e.code === -32601) return null;
      throw e;
    }
    return this.helloResult;
  }

  /**
   * A valid access token: {access_token, token_type, expires_at, scope, account, headers}.
   * `forceRefresh: true` when the service just refused the token you hold.
   */
  token({ scope = BROADCASTER_SCOPE, provider, account, minValidSecs, forceRefresh } = {}) {
    const params = {};
    if (scope !== undefined && scope !== null) params.scope = scope;
    if (provider !== undefined) params.provider = provider;
    if (account !== undefined) params.account = account;
    if (minValidSecs !== undefined) params.min_valid_secs = minValidSecs;
    if (forceRefresh) params.force_refresh = true;
    return this.call('token', params);
  }

  accounts() {
    return this.call('accounts', {});
  }

  /** From now on this connection also receives notifications; resolves to their names. */
  subscribe() {
    return this.call('subscribe', {});
  }

  /**
   * The next notification as {method, params}, or null if none came within
   * `timeoutMs` (null: wait for ever). Rejects when Castkey closes the connection.
   */
  async nextNotification(timeoutMs = null) {
    const deadline = timeoutMs === null ? null : Date.now() + timeoutMs;
    for (;;) {
      const n = this.notifications.shift();
      if (n !== undefined) return { method: n.method, params: n.params };
      if (this.closedError) throw this.closedError;
      const left = deadline === null ? null : deadline - Date.now();
      if (left !== null && left <= 0) return null;
      await this.waitForInput(left);
    }
  }
}

// -- the command -------------------------------------------------------------

function thisProgram() {
  let exe;
  try {
    exe = fs.readlinkSync('/proc/self/exe');
  } catch {
    exe = fs.realpathSync(process.execPath);
  }
  return { exe, script: fs.realpathSync(fileURLToPath(import.meta.url)) };
}

/** What the user can do about an error, in a sentence or two. */
export function hint(e) {
  switch (e.reason) {
    case 'client_not_allowed': {
      const { exe, script } = thisProgram();
      return (
        'Allow this program in the Castkey window, or on a headless broker (castkey serve) with:\n' +
        `  castkey apps allow ${exe} --script ${script}`
      );
    }
    case 'not_signed_in':
    case 'unknown_account':
      return 'Sign in first: in the Castkey window, or with `castkey login <provider>`.';
    case 'reauth_required':
      return 'The provider no longer accepts the stored sign-in: sign in again in Castkey.';
    case 'consent_denied':
      return 'This program was denied in Castkey; it asks again after a few minutes.';
    case 'consent_timeout':
      return "Nobody answered Castkey's question whether this program may have a token: try again and answer it.";
    case 'scope_not_granted':
    case 'scope_not_allowed':
      return 'Ask for another scope (--scope), or sign in again granting it / allow it for this program in Castkey.';
    case 'provider_unavailable': {
      const after = e.data?.retry_after_secs;
      return `Try again ${after ? `in ${after} s` : 'later'}.`;
    }
    case 'keychain_unavailable': {
      const detail = e.data?.detail;
      return `Unlock or start the OS keychain${detail ? ` (${detail})` : ''}.`;
    }
    default:
      return null;
  }
}

const USAGE = `usage: castkey-token.mjs [--scope S] [--provider P] [--account A] [--min-valid SECS] [--refresh] [--json] [--subscribe] [--socket PATH]`;

function parseArgs(argv) {
  const args = { scope: BROADCASTER_SCOPE, json: false, subscribe: false, refresh: false };
  const takesValue = { '--scope': 'scope', '--provider': 'provider', '--account': 'account', '--min-valid': 'minValid', '--socket': 'socket' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') args.json = true;
    else if (a === '--subscribe') args.subscribe = true;
    else if (a === '--refresh') args.refresh = true;
    else if (a === '-h' || a === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else if (takesValue[a] && i + 1 < argv.length) args[takesValue[a]] = argv[++i];
    else {
      console.error(`castkey-token.mjs: unexpected argument ${a}\n${USAGE}`);
      process.exit(2);
    }
  }
  if (args.minValid !== undefined) {
    args.minValid = Number.parseInt(args.minValid, 10);
    if (!Number.isInteger(args.minValid) || args.minValid < 0) {
      console.error('castkey-token.mjs: --min-valid takes a number of seconds');
      process.exit(2);
    }
  }
  return args;
}

function report(e, prog) {
  if (!(e instanceof CastkeyError)) {
    console.error(`${prog}: ${e.message ?? e}`);
    return 1;
  }
  if (e.code !== null) console.error(`${prog}: Castkey refused: ${e.message} [${e.reason ?? `code ${e.code}`}]`);
  else console.error(`${prog}: ${e.message}`);
  const more = hint(e);
  if (more) console.error(more);
  return EXIT_CODES[e.reason] ?? 1;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const prog = 'castkey-token.mjs';
  let castkey;
  try {
    castkey = await CastkeyClient.connect({ socketPath: args.socket ?? defaultSocketPath(), name: 'castkey-token.mjs example', version: '1' });
    if (castkey.helloResult?.client?.approval === 'unknown') {
      console.error(`${prog}: Castkey has not approved this program yet: the Castkey window asks you (a headless broker refuses it)`);
    }
    if (args.subscribe) {
      const names = await castkey.subscribe();
      console.error(`${prog}: subscribed to ${names.join(', ')} (Ctrl-C stops)`);
      process.on('SIGINT', () => process.exit(0));
      for (;;) {
        const n = await castkey.nextNotification();
        if (args.json) console.log(JSON.stringify(n));
        else console.log(`${n.method} ${JSON.stringify(n.params)}`);
      }
    }
    const grant = await castkey.token({
      scope: args.scope,
      provider: args.provider,
      account: args.account,
      minValidSecs: args.minValid,
      forceRefresh: args.refresh,
    });
    console.log(args.json ? JSON.stringify(grant, null, 2) : grant.headers.Authorization);
    return 0;
  } catch (e) {
    return report(e, prog);
  } finally {
    castkey?.close();
  }
}

// Run as a command only when this file is the program (not when imported).
if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}
