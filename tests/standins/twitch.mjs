// A stand-in for Twitch's authentication service (id.twitch.tv/oauth2),
// written from dev.twitch.tv/docs/authentication: "Getting OAuth Access
// Tokens" (device code grant, authorization code grant), "Refreshing Access
// Tokens", "Validating Tokens", "Revoking Access Tokens".
//
//   POST /oauth2/device     client_id, scopes (space-separated; Twitch's name,
//                           not RFC 8628's `scope`) -> {device_code, user_code,
//                           verification_uri, expires_in, interval}
//   GET  /oauth2/authorize  response_type=code, client_id, redirect_uri, scope,
//                           state [, force_verify=true: the account chooser]
//                           -> 302 redirect_uri?code&state&scope
//   POST /oauth2/token      device code (public client: no secret; pending is
//                           {"status":400,"message":"authorization_pending"}),
//                           authorization_code (confidential: client_secret),
//                           refresh_token. Answers {access_token, expires_in,
//                           refresh_token, scope: [array], token_type: "bearer"}.
//                           A public client's refresh token is one-time use:
//                           replaying a spent one ends the whole grant. A
//                           refused one: {"status":400,"message":"Invalid refresh token"}.
//   GET  /oauth2/validate   Authorization: OAuth <token> -> {client_id, login,
//                           scopes, user_id, expires_in}; 401 {"status":401,
//                           "message":"invalid access token"} once invalid.
//   POST /oauth2/revoke     client_id, token -> 200; unknown -> 400 {"status":400,"message":"Invalid token"}
//
// Test-only helpers under /_test/ (never part of Twitch):
//   POST /_test/browser?login=L     the user the browser is signed in as
//   POST /_test/choose?login=L      who the account chooser picks (force_verify)
//   POST /_test/approve?user_code=C&login=L   the user enters the code
//   POST /_test/disconnect?login=L  the user disconnects the app on twitch.tv
//   POST /_test/expire_access?login=L  only L's access tokens stop working
//                                   (the grant and its refresh tokens live on)
//   POST /_test/ratelimit?count=N&retry_after=S   the next N /validate calls answer 429
//   GET  /_test/count               requests per endpoint
//   GET  /_test/last                the last /device form and /authorize query
//
// Env: CLIENT_ID (public client, default castkey-twitch), CONFIDENTIAL_ID and
// CONFIDENTIAL_SECRET (default conf-id / conf-secret), TTL (access token
// seconds, default 14400), PORT. Users: streamer (user_id 1001), bot (1002).
import crypto from 'node:crypto';
import { send, serve } from './serve.mjs';

const PUBLIC_ID = process.env.CLIENT_ID || 'castkey-twitch';
const CONF_ID = process.env.CONFIDENTIAL_ID || 'conf-id';
const CONF_SECRET = process.env.CONFIDENTIAL_SECRET || 'conf-secret';
const TTL = Number(process.env.TTL || 14400);
const USERS = { streamer: '1001', bot: '1002' };

const rand = () => crypto.randomBytes(18).toString('base64url');
const count = {};
const last = {};
let browser = 'streamer';
let chosen = null;
let rateLimited = { count: 0, retryAfter: 0 };
const devices = new Map();   // device_code -> {user_code, client_id, scopes, login|null}
const codes = new Map();     // code -> {client_id, redirect_uri, scopes, login}
const grants = new Map();    // grant id -> {login, client_id, scopes, alive}
const access = new Map();    // access token -> {grant, expires (ms)}
const refresh = new Map();   // refresh token -> {grant, spent}

const fail = (res, status, message) => send(res, status, { status, message });

function issue(grantId) {
  const g = grants.get(grantId);
  const at = rand();
  const rt = rand();
  access.set(at, { grant: grantId, expires: Date.now() + TTL * 1000 });
  refresh.set(rt, { grant: grantId, spent: false });
  return { access_token: at, expires_in: TTL, refresh_token: rt, scope: g.scopes, token_type: 'bearer' };
}

function newGrant(login, clientId, scopes) {
  const id = rand();
  grants.set(id, { login, client_id: clientId, scopes, alive: true });
  return id;
}

function liveAccess(req) {
  const h = req.headers.authorization || '';
  const m = /^(OAuth|Bearer) (.+)$/.exec(h);
  const a = m && access.get(m[2]);
  if (!a || a.expires < Date.now() || !grants.get(a.grant).alive) return null;
  return a;
}

serve((req, res, url, raw) => {
  const p = url.pathname;
  count[p] = (count[p] || 0) + 1;
  const form = new URLSearchParams(raw.toString());
  const q = url.searchParams;
  if (p === '/oauth2/device' && req.method === 'POST') {
    last.device = Object.fromEntries(form);
    if (form.get('client_id') !== PUBLIC_ID && form.get('client_id') !== CONF_ID) return fail(res, 400, 'invalid client');
    if (!form.get('scopes')) return fail(res, 400, 'missing scopes');
    const device_code = rand();
    const user_code = crypto.randomBytes(4).toString('hex').toUpperCase();
    devices.set(device_code, { user_code, client_id: form.get('client_id'), scopes: form.get('scopes').split(' '), login: null });
    return send(res, 200, {
      device_code, user_code, expires_in: 1800, interval: 1,
      verification_uri: `http://127.0.0.1:${req.socket.localPort}/activate?device-code=${user_code}`,
    });
  }
  if (p === '/oauth2/authorize' && req.method === 'GET') {
    last.authorize = Object.fromEntries(q);
    if (q.get('client_id') !== CONF_ID) return fail(res, 400, 'invalid client');
    const login = q.get('force_verify') === 'true' && chosen ? chosen : browser;
    const code = rand();
    codes.set(code, { client_id: q.get('client_id'), redirect_uri: q.get('redirect_uri'), scopes: (q.get('scope') || '').split(' ').filter(Boolean), login });
    const to = new URL(q.get('redirect_uri'));
    to.searchParams.set('code', code);
    to.searchParams.set('scope', q.get('scope') || '');
    to.searchParams.set('state', q.get('state') || '');
    res.writeHead(302, { location: to.toString() });
    return res.end();
  }
  if (p === '/oauth2/token' && req.method === 'POST') {
    const clientId = form.get('client_id');
    const confidential = clientId === CONF_ID;
    if (!confidential && clientId !== PUBLIC_ID) return fail(res, 400, 'invalid client');
    if (confidential && form.get('client_secret') !== CONF_SECRET) return fail(res, 403, 'invalid client secret');
    const type = form.get('grant_type');
    if (type === 'urn:ietf:params:oauth:grant-type:device_code') {
      const d = devices.get(form.get('device_code'));
      if (!d || d.client_id !== clientId) return fail(res, 400, 'invalid device code');
      if (!d.login) return fail(res, 400, 'authorization_pending');
      devices.delete(form.get('device_code'));
      return send(res, 200, issue(newGrant(d.login, clientId, d.scopes)));
    }
    if (type === 'authorization_code') {
      const c = codes.get(form.get('code'));
      codes.delete(form.get('code'));
      if (!confidential || !c || c.client_id !== clientId || c.redirect_uri !== form.get('redirect_uri')) {
        return fail(res, 400, 'Invalid authorization code');
      }
      return send(res, 200, issue(newGrant(c.login, clientId, c.scopes)));
    }
    if (type === 'refresh_token') {
      count.refresh = (count.refresh || 0) + 1;
      const r = refresh.get(form.get('refresh_token'));
      const g = r && grants.get(r.grant);
      if (!r || !g.alive || g.client_id !== clientId) return fail(res, 400, 'Invalid refresh token');
      if (!confidential) {
        if (r.spent) {
          // A replayed one-time refresh token ends the user's connection.
          g.alive = false;
          return fail(res, 400, 'Invalid refresh token');
        }
        r.spent = true;
      }
      return send(res, 200, issue(r.grant));
    }
    return fail(res, 400, 'unsupported grant type');
  }
  if (p === '/oauth2/validate' && req.method === 'GET') {
    if (rateLimited.count > 0) {
      rateLimited.count -= 1;
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(rateLimited.retryAfter) });
      return res.end(JSON.stringify({ status: 429, message: 'Too Many Requests' }));
    }
    const a = liveAccess(req);
    if (!a) return fail(res, 401, 'invalid access token');
    const g = grants.get(a.grant);
    return send(res, 200, {
      client_id: g.client_id, login: g.login, scopes: g.scopes, user_id: USERS[g.login],
      expires_in: Math.max(0, Math.floor((a.expires - Date.now()) / 1000)),
    });
  }
  if (p === '/oauth2/revoke' && req.method === 'POST') {
    const token = form.get('token');
    const hit = access.get(token) || refresh.get(token);
    if (!form.get('client_id') || !hit) return fail(res, 400, 'Invalid token');
    grants.get(hit.grant).alive = false;
    return send(res, 200, '');
  }
  if (p === '/_test/browser') { browser = q.get('login'); return send(res, 200, { browser }); }
  if (p === '/_test/choose') { chosen = q.get('login'); return send(res, 200, { chosen }); }
  if (p === '/_test/approve') {
    for (const d of devices.values()) if (d.user_code === q.get('user_code')) d.login = q.get('login') || browser;
    return send(res, 200, {});
  }
  if (p === '/_test/disconnect') {
    for (const g of grants.values()) if (g.login === q.get('login')) g.alive = false;
    return send(res, 200, {});
  }
  if (p === '/_test/expire_access') {
    for (const a of access.values()) if (grants.get(a.grant).login === q.get('login')) a.expires = 0;
    return send(res, 200, {});
  }
  if (p === '/_test/ratelimit') {
    rateLimited = { count: Number(q.get('count') || 1), retryAfter: Number(q.get('retry_after') || 60) };
    return send(res, 200, rateLimited);
  }
  if (p === '/_test/count') return send(res, 200, count);
  if (p === '/_test/last') return send(res, 200, last);
  return fail(res, 404, 'not found');
});
