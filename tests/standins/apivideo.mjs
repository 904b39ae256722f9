// A stand-in for api.video's authentication endpoints, written from the
// public OpenAPI document (oas_apivideo.yaml, paths /auth/api-key and
// /auth/refresh). No package implements them, so tests use this.
//
//   POST /auth/api-key  {"apiKey": "..."}        -> 200 {token_type, expires_in, access_token, refresh_token}
//   POST /auth/refresh  {"refreshToken": "..."}  -> 200 same shape, a new refresh token (the old one dies)
//   either, refused                              -> 400 {type, title, name, status} (problem JSON)
//
// Test-only helpers under /_test/ (never part of api.video):
//   GET  /_test/requests        what Castkey sent: [{path, body keys}] (values never logged)
//   GET  /_test/token/<token>   {"active": bool} for an access token
//   POST /_test/revoke-refresh  every refresh token dies (as after a new api-key call elsewhere)
//   POST /_test/revoke-key      the API key stops working
//   POST /_test/fail?mode=500|hang|garbage|none   how /auth/* answer from now on
//
// Env: APIVIDEO_KEY (the one valid key, default "test-api-key"),
//      APIVIDEO_ENV (a label, e.g. sandbox), APIVIDEO_TTL (default 3600), PORT (default 0).
// Prints `BASE=http://127.0.0.1:<port>` once listening.
import crypto from 'node:crypto';
import { send, serve } from './serve.mjs';

let validKey = process.env.APIVIDEO_KEY || 'test-api-key';
const ttl = Number(process.env.APIVIDEO_TTL || 3600);
const label = process.env.APIVIDEO_ENV || 'sandbox';
const access = new Map(); // token -> expires (ms)
let refresh = new Set();
const requests = [];
let failMode = 'none';

const invalid = {
  type: 'https://docs.api.video/docs/authenticationinvalid_credentials',
  title: 'The user credentials were incorrect.',
  name: '',
  status: 400,
};

function issue() {
  const at = `${label}-at-${crypto.randomBytes(16).toString('hex')}`;
  const rt = `${label}-rt-${crypto.randomBytes(16).toString('hex')}`;
  access.set(at, Date.now() + ttl * 1000);
  refresh.add(rt);
  return { token_type: 'Bearer', expires_in: ttl, access_token: at, refresh_token: rt };
}


serve((req, res, url, raw) => {
  if (url.pathname.startsWith('/_test/')) {
    if (url.pathname === '/_test/requests') return send(res, 200, requests);
    if (url.pathname.startsWith('/_test/token/')) {
      const t = decodeURIComponent(url.pathname.slice('/_test/token/'.length));
      return send(res, 200, { active: (access.get(t) || 0) > Date.now() });
    }
    if (url.pathname === '/_test/revoke-refresh') { refresh = new Set(); return send(res, 200, {}); }
    if (url.pathname === '/_test/fail') { failMode = url.searchParams.get('mode') || 'none'; return send(res, 200, {}); }
    if (url.pathname === '/_test/revoke-key') { validKey = crypto.randomBytes(8).toString('hex'); return send(res, 200, {}); }
    return send(res, 404, {});
  }
  let body = {};
  try { body = JSON.parse(raw.toString() || '{}'); } catch { return send(res, 400, { ...invalid, title: 'Invalid JSON' }); }
  requests.push({ method: req.method, path: url.pathname, content_type: req.headers['content-type'] || '', keys: Object.keys(body).sort() });
  if (req.method !== 'POST') return send(res, 405, {});
  if (failMode === '500') return send(res, 500, { type: 'about:blank', title: 'Internal Server Error', status: 500 });
  if (failMode === 'hang') return undefined;
  if (failMode === 'garbage') {
    return send(res, 200, '<html><body>Service maintenance</body></html>', 'text/html');
  }
  if (url.pathname === '/auth/api-key') {
    return body.apiKey === validKey ? send(res, 200, issue()) : send(res, 400, invalid);
  }
  if (url.pathname === '/auth/refresh') {
    if (!refresh.has(body.refreshToken)) return send(res, 400, invalid);
    refresh.delete(body.refreshToken);
    return send(res, 200, issue());
  }
  return send(res, 404, { type: 'https://docs.api.video/reference/not-found', title: 'Not found', status: 404 });
});
