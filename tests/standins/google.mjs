// A stand-in for Google's OAuth 2.0 for installed apps, written from
// developers.google.com/identity/protocols/oauth2/native-app (and
// .../oauth2/limited-input-device, .../oauth2#expiration), every endpoint on
// one host under Google's paths:
//
//   GET  /o/oauth2/v2/auth   client_id, redirect_uri (loopback only:
//        http://127.0.0.1:<any port>/... ; a custom scheme is refused),
//        response_type=code, scope, state, code_challenge + S256 (required
//        here), access_type=offline (else no refresh token), prompt
//        (`consent`: a refresh token again; `select_account`: the chooser)
//        -> 302 redirect_uri?code&state&scope
//   POST /token   authorization_code (client_id, client_secret, code,
//        code_verifier, redirect_uri), refresh_token (no new refresh token:
//        Google does not rotate) -> {access_token, expires_in, refresh_token?,
//        scope (space-separated), token_type: "Bearer", id_token}; refused:
//        {"error":"invalid_grant","error_description":"Bad Request"}
//   GET  /v1/userinfo   Bearer -> {sub, name, email}
//   POST /revoke        token -> 200; unknown -> 400 {"error":"invalid_token"}
//   POST /device/code   client_id, scope (only openid, email, profile and the
//        YouTube Data API scopes youtube / youtube.readonly are allowed on
//        limited-input devices; others -> 400 invalid_scope) -> {device_code,
//        user_code, verification_url (Google's name), expires_in, interval};
//        polled at /token with grant_type=urn:ietf:params:oauth:grant-type:device_code
//        (client_secret required): 428 {"error":"authorization_pending"} until approved
//
// Test-only helpers under /_test/: browser?login=L, choose?login=L,
// approve?user_code=C&login=L,
// expire_refresh?login=L (the 7 days of "Testing" passed), GET count, GET last.
// Env: CLIENT_ID (default castkey-desktop), CLIENT_SECRET (default
// desktop-secret), PORT. Users: streamer (sub 111), bot (222).
import crypto from 'node:crypto';
import { send, serve } from './serve.mjs';

const CLIENT_ID = process.env.CLIENT_ID || 'castkey-desktop';
const CLIENT_SECRET = process.env.CLIENT_SECRET || 'desktop-secret';
const USERS = { streamer: { sub: '111', name: 'Streamer', email: 'streamer@example.com' }, bot: { sub: '222', name: 'Bot', email: 'bot@example.com' } };
const rand = () => crypto.randomBytes(18).toString('base64url');
const count = {};
const last = {};
let browser = 'streamer';
let chosen = null;
const consented = new Set();
const codes = new Map();
const access = new Map();  // token -> {login, scope, expires}
const refresh = new Map(); // token -> {login, scope, alive}
const devices = new Map(); // device_code -> {user_code, scope, login|null}
const DEVICE_SCOPES = ['openid', 'email', 'profile', 'https://www.googleapis.com/auth/youtube', 'https://www.googleapis.com/auth/youtube.readonly'];

const err = (res, status, error, error_description) => send(res, status, { error, error_description });

serve((req, res, url, raw) => {
  const p = url.pathname;
  count[p] = (count[p] || 0) + 1;
  const q = url.searchParams;
  const form = new URLSearchParams(raw.toString());
  if (p === '/o/oauth2/v2/auth') {
    last.authorize = Object.fromEntries(q);
    const redirect = q.get('redirect_uri') || '';
    if (q.get('client_id') !== CLIENT_ID) return err(res, 401, 'invalid_client', 'The OAuth client was not found.');
    if (!/^http:\/\/(127\.0\.0\.1|\[::1\]|localhost):\d+\//.test(redirect)) {
      return err(res, 400, 'invalid_request', 'Custom URI scheme is not supported on desktop clients; use a loopback redirect');
    }
    if (q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) return err(res, 400, 'invalid_request', 'PKCE S256 expected');
    const prompt = (q.get('prompt') || '').split(' ');
    const login = prompt.includes('select_account') && chosen ? chosen : browser;
    const offline = q.get('access_type') === 'offline' && (prompt.includes('consent') || !consented.has(login));
    consented.add(login);
    const code = rand();
    codes.set(code, { login, redirect, scope: q.get('scope') || '', offline, challenge: q.get('code_challenge') });
    const to = new URL(redirect);
    to.searchParams.set('state', q.get('state') || '');
    to.searchParams.set('code', code);
    to.searchParams.set('scope', q.get('scope') || '');
    res.writeHead(302, { location: to.toString() });
    return res.end();
  }
  if (p === '/device/code' && req.method === 'POST') {
    last.device = Object.fromEntries(form);
    if (form.get('client_id') !== CLIENT_ID) return err(res, 401, 'invalid_client', 'The OAuth client was not found.');
    const scope = form.get('scope') || '';
    if (scope.split(' ').some((x) => !DEVICE_SCOPES.includes(x))) return err(res, 400, 'invalid_scope', 'Invalid device flow scope');
    const device_code = rand();
    const user_code = crypto.randomBytes(4).toString('hex').toUpperCase();
    devices.set(device_code, { user_code, scope, login: null });
    return send(res, 200, { device_code, user_code, verification_url: 'https://www.google.com/device', expires_in: 1800, interval: 1 });
  }
  if (p === '/token' && req.method === 'POST') {
    if (form.get('client_id') !== CLIENT_ID || form.get('client_secret') !== CLIENT_SECRET) return err(res, 401, 'invalid_client', 'Unauthorized');
    const type = form.get('grant_type');
    if (type === 'urn:ietf:params:oauth:grant-type:device_code') {
      const d = devices.get(form.get('device_code'));
      if (!d) return err(res, 400, 'invalid_grant', 'Bad Request');
      if (!d.login) return err(res, 428, 'authorization_pending', 'Precondition Required');
      devices.delete(form.get('device_code'));
      const at = rand();
      const rt = rand();
      access.set(at, { login: d.login, scope: d.scope, expires: Date.now() + 3599e3 });
      refresh.set(rt, { login: d.login, scope: d.scope, alive: true });
      return send(res, 200, { access_token: at, expires_in: 3599, refresh_token: rt, scope: d.scope, token_type: 'Bearer' });
    }
    if (type === 'authorization_code') {
      const c = codes.get(form.get('code'));
      codes.delete(form.get('code'));
      const verifier = form.get('code_verifier') || '';
      const digest = crypto.createHash('sha256').update(verifier).digest('base64url');
      if (!c || c.redirect !== form.get('redirect_uri') || digest !== c.challenge) return err(res, 400, 'invalid_grant', 'Bad Request');
      const at = rand();
      access.set(at, { login: c.login, scope: c.scope, expires: Date.now() + 3599e3 });
      const answer = { access_token: at, expires_in: 3599, scope: c.scope, token_type: 'Bearer', id_token: 'x.y.z' };
      if (c.offline) {
        const rt = rand();
        refresh.set(rt, { login: c.login, scope: c.scope, alive: true });
        answer.refresh_token = rt;
      }
      return send(res, 200, answer);
    }
    if (type === 'refresh_token') {
      const r = refresh.get(form.get('refresh_token'));
      if (!r || !r.alive) return err(res, 400, 'invalid_grant', 'Token has been expired or revoked.');
      const at = rand();
      access.set(at, { login: r.login, scope: r.scope, expires: Date.now() + 3599e3 });
      return send(res, 200, { access_token: at, expires_in: 3599, scope: r.scope, token_type: 'Bearer' });
    }
    return err(res, 400, 'unsupported_grant_type', 'Invalid grant_type');
  }
  if (p === '/v1/userinfo') {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
    const a = m && access.get(m[1]);
    if (!a || a.expires < Date.now()) return err(res, 401, 'invalid_request', 'Invalid Credentials');
    return send(res, 200, USERS[a.login]);
  }
  if (p === '/revoke' && req.method === 'POST') {
    const t = form.get('token') || q.get('token');
    const r = refresh.get(t);
    if (r) { r.alive = false; return send(res, 200, {}); }
    if (access.delete(t)) return send(res, 200, {});
    return err(res, 400, 'invalid_token', 'Token expired or revoked');
  }
  if (p === '/_test/browser') { browser = q.get('login'); return send(res, 200, {}); }
  if (p === '/_test/choose') { chosen = q.get('login'); return send(res, 200, {}); }
  if (p === '/_test/approve') {
    for (const d of devices.values()) if (d.user_code === q.get('user_code')) d.login = q.get('login') || browser;
    return send(res, 200, {});
  }
  if (p === '/_test/expire_refresh') {
    for (const r of refresh.values()) if (r.login === q.get('login')) r.alive = false;
    return send(res, 200, {});
  }
  if (p === '/_test/count') return send(res, 200, count);
  if (p === '/_test/last') return send(res, 200, last);
  return err(res, 404, 'not_found', p);
});
