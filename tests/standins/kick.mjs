// A stand-in for Kick's OAuth 2.1 server and the parts of its public API
// Castkey uses, written from docs.kick.com ("OAuth 2.1", "Users", "Token
// introspection"); id.kick.com's and api.kick.com's paths on one host:
//
//   GET  /oauth/authorize   client_id, response_type=code, redirect_uri,
//        state, scope, code_challenge, code_challenge_method=S256 (required)
//        -> 302 redirect_uri?code&state
//   POST /oauth/token       form: client_id + client_secret (in the body;
//        HTTP Basic is not read), authorization_code + code_verifier (PKCE
//        checked) + redirect_uri, or refresh_token. Refresh tokens rotate: a
//        used one is refused ({"error":"invalid_grant"}).
//        -> {access_token, token_type: "Bearer", refresh_token, expires_in, scope}
//   POST /oauth/revoke      token and token_hint_type (query, as Kick's docs
//        show, or form body) -> 200
//   POST /public/v1/token/introspect   Bearer -> {data: {active, client_id,
//        exp, scope, token_type: "user"}, message} (RFC 7662 members in `data`)
//   GET  /public/v1/users   Bearer -> {data: [{user_id, name, email, profile_picture}], message}
//
// Test-only: GET /_test/count, GET /_test/last (the last token form's keys),
// POST /_test/browser?login=L. Env: CLIENT_ID (default kick-app),
// CLIENT_SECRET (default kick-secret), TTL (default 3600), PORT.
// Users: streamer (user_id 501), bot (502).
import crypto from 'node:crypto';
import { send, serve } from './serve.mjs';

const CLIENT_ID = process.env.CLIENT_ID || 'kick-app';
const CLIENT_SECRET = process.env.CLIENT_SECRET || 'kick-secret';
const TTL = Number(process.env.TTL || 3600);
const USERS = { streamer: 501, bot: 502 };
const rand = () => crypto.randomBytes(18).toString('base64url');
const count = {};
const last = {};
let browser = 'streamer';
const codes = new Map();
const access = new Map();  // token -> {login, scope, exp (s), alive}
const refresh = new Map(); // token -> {login, scope, used}

const err = (res, status, error, error_description) => send(res, status, { error, error_description });

function issue(login, scope) {
  const at = rand();
  const rt = rand();
  access.set(at, { login, scope, exp: Math.floor(Date.now() / 1000) + TTL, alive: true });
  refresh.set(rt, { login, scope, used: false });
  return { access_token: at, token_type: 'Bearer', refresh_token: rt, expires_in: TTL, scope };
}

function bearer(req) {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
  return m && access.get(m[1]);
}

serve((req, res, url, raw) => {
  const p = url.pathname;
  count[p] = (count[p] || 0) + 1;
  const q = url.searchParams;
  const form = new URLSearchParams(raw.toString());
  if (p === '/oauth/authorize') {
    if (q.get('client_id') !== CLIENT_ID) return err(res, 400, 'invalid_client', 'unknown client');
    if (q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) return err(res, 400, 'invalid_request', 'code_challenge with S256 is required');
    const code = rand();
    codes.set(code, { login: browser, redirect: q.get('redirect_uri'), scope: q.get('scope') || '', challenge: q.get('code_challenge') });
    const to = new URL(q.get('redirect_uri'));
    to.searchParams.set('code', code);
    to.searchParams.set('state', q.get('state') || '');
    res.writeHead(302, { location: to.toString() });
    return res.end();
  }
  if (p === '/oauth/token' && req.method === 'POST') {
    last.token = [...form.keys()].sort();
    if (form.get('client_id') !== CLIENT_ID || form.get('client_secret') !== CLIENT_SECRET) return err(res, 401, 'invalid_client', 'client authentication failed');
    if (form.get('grant_type') === 'authorization_code') {
      const c = codes.get(form.get('code'));
      codes.delete(form.get('code'));
      const digest = crypto.createHash('sha256').update(form.get('code_verifier') || '').digest('base64url');
      if (!c || c.redirect !== form.get('redirect_uri') || digest !== c.challenge) return err(res, 400, 'invalid_grant', 'invalid code or code_verifier');
      return send(res, 200, issue(c.login, c.scope));
    }
    if (form.get('grant_type') === 'refresh_token') {
      count.refresh = (count.refresh || 0) + 1;
      const r = refresh.get(form.get('refresh_token'));
      if (!r || r.used) return err(res, 400, 'invalid_grant', 'invalid refresh token');
      r.used = true;
      return send(res, 200, issue(r.login, r.scope));
    }
    return err(res, 400, 'unsupported_grant_type', 'unsupported grant type');
  }
  if (p === '/oauth/revoke' && req.method === 'POST') {
    const t = q.get('token') || form.get('token');
    const r = refresh.get(t);
    if (r) r.used = true;
    const a = access.get(t);
    if (a) a.alive = false;
    return send(res, 200, '');
  }
  if (p === '/public/v1/token/introspect' && req.method === 'POST') {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
    const a = m && access.get(m[1]);
    const active = !!a && a.alive && a.exp > Date.now() / 1000;
    if (!active) return send(res, 200, { data: { active: false }, message: 'OK' });
    return send(res, 200, { data: { active: true, client_id: CLIENT_ID, exp: a.exp, scope: a.scope, token_type: 'user' }, message: 'OK' });
  }
  if (p === '/public/v1/users' && req.method === 'GET') {
    const a = bearer(req);
    if (!a || !a.alive) return send(res, 401, { data: [], message: 'Unauthorized' });
    return send(res, 200, { data: [{ user_id: USERS[a.login], name: a.login, email: `${a.login}@example.com`, profile_picture: '' }], message: 'OK' });
  }
  if (p === '/_test/browser') { browser = q.get('login'); return send(res, 200, {}); }
  if (p === '/_test/count') return send(res, 200, count);
  if (p === '/_test/last') return send(res, 200, last);
  return err(res, 404, 'not_found', p);
});
