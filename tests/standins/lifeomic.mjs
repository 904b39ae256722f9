// A stand-in for a LifeOmic-style video service's identity-token exchange and
// GraphQL endpoint, written from the service's public developer document
// (shared/seeds: "Exchanging Your Identity Tokens for Video Service Access
// Tokens" and "Using an access token to configure an API client"). No
// package implements them, so tests use this.
//
//   POST /v1/identity-token-exchange
//        {"identityToken", "providerName": "custom", "oidcClientId", "lifeomicClientId"}
//        -> 200 {"accessToken"}
//        The identity token is verified for real against the customer's
//        identity provider (RS256 signature with its JWKS, iss, aud, exp).
//        Refused -> 401 {"error": "..."}; a malformed request -> 400.
//   POST /graphql   needs `Authorization: Bearer <accessToken>` and
//        `LifeOmic-Account: <account>` -> 200 {"data": {"me": {"sub"}}}; else 401/403.
//
// Test-only helpers under /_test/ (never part of the service):
//   GET  /_test/requests       what Castkey sent: [{path, keys, content_type}] (no values)
//   GET  /_test/token/<token>  {"active": bool}
//   POST /_test/fail?mode=500|hang|garbage|none   how the exchange answers from now on
//
// Env: OIDC_ISSUER (the customer's issuer), OIDC_CLIENT_ID (their client),
//      SERVICE_CLIENT_ID (the service's client id), ACCOUNT (the account id),
//      TTL (token lifetime, seconds, default 3600), PORT (default 0).
// Prints `BASE=http://127.0.0.1:<port>` once listening.
import crypto from 'node:crypto';
import { send, serve } from './serve.mjs';

const ISSUER = process.env.OIDC_ISSUER;
const OIDC_CLIENT_ID = process.env.OIDC_CLIENT_ID;
const SERVICE_CLIENT_ID = process.env.SERVICE_CLIENT_ID;
const ACCOUNT = process.env.ACCOUNT;
const TTL = Number(process.env.TTL || 3600);
if (!ISSUER || !OIDC_CLIENT_ID || !SERVICE_CLIENT_ID || !ACCOUNT) {
  process.stderr.write('lifeomic: set OIDC_ISSUER, OIDC_CLIENT_ID, SERVICE_CLIENT_ID and ACCOUNT\n');
  process.exit(2);
}

const tokens = new Map(); // accessToken -> {sub, expires (ms)}
const requests = [];
let failMode = 'none';


async function jwks() {
  const config = await (await fetch(`${ISSUER}/.well-known/openid-configuration`)).json();
  return (await (await fetch(config.jwks_uri)).json()).keys;
}

const b64 = (s) => Buffer.from(s, 'base64url');

// Verifies an RS256 ID token from the customer's provider; answers its claims.
async function verifyIdentityToken(token, audience) {
  const parts = String(token).split('.');
  if (parts.length !== 3) throw new Error('identityToken is not a JWT');
  const header = JSON.parse(b64(parts[0]).toString());
  const claims = JSON.parse(b64(parts[1]).toString());
  if (header.alg !== 'RS256') throw new Error(`unsupported alg ${header.alg}`);
  const jwk = (await jwks()).find((k) => k.kid === header.kid);
  if (!jwk) throw new Error('unknown signing key');
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const ok = crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), key, b64(parts[2]));
  if (!ok) throw new Error('bad signature');
  if (claims.iss !== ISSUER) throw new Error('wrong issuer');
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(audience)) throw new Error('wrong audience');
  if (!(claims.exp * 1000 > Date.now())) throw new Error('expired');
  return claims;
}

async function exchange(req, res, body) {
  if (failMode === '500') return send(res, 500, { error: 'internal error' });
  if (failMode === 'hang') return; // never answers
  if (failMode === 'garbage') return send(res, 200, '<html>maintenance</html>');
  const { identityToken, providerName, oidcClientId, lifeomicClientId } = body;
  if (!identityToken || !providerName || !oidcClientId || !lifeomicClientId) {
    return send(res, 400, { error: 'identityToken, providerName, oidcClientId and lifeomicClientId are required' });
  }
  if (providerName !== 'custom') return send(res, 400, { error: 'providerName must be custom' });
  if (lifeomicClientId !== SERVICE_CLIENT_ID || oidcClientId !== OIDC_CLIENT_ID) {
    return send(res, 401, { error: 'unknown client' });
  }
  let claims;
  try {
    claims = await verifyIdentityToken(identityToken, oidcClientId);
  } catch (err) {
    return send(res, 401, { error: `invalid identity token: ${err.message}` });
  }
  const accessToken = `svc-${crypto.randomBytes(16).toString('hex')}`;
  tokens.set(accessToken, { sub: claims.sub, expires: Date.now() + TTL * 1000 });
  return send(res, 200, { accessToken });
}

function graphql(req, res) {
  const auth = req.headers.authorization || '';
  const t = tokens.get(auth.replace(/^Bearer /, ''));
  if (!t || t.expires <= Date.now()) return send(res, 401, { errors: [{ message: 'unauthorized' }] });
  if (req.headers['lifeomic-account'] !== ACCOUNT) return send(res, 403, { errors: [{ message: 'wrong account' }] });
  return send(res, 200, { data: { me: { sub: t.sub } } });
}

serve((req, res, url, raw) => {
  if (url.pathname.startsWith('/_test/')) {
    if (url.pathname === '/_test/requests') return send(res, 200, requests);
    if (url.pathname.startsWith('/_test/token/')) {
      const t = tokens.get(decodeURIComponent(url.pathname.slice('/_test/token/'.length)));
      return send(res, 200, { active: !!t && t.expires > Date.now() });
    }
    if (url.pathname === '/_test/fail') { failMode = url.searchParams.get('mode') || 'none'; return send(res, 200, {}); }
    return send(res, 404, {});
  }
  let body = {};
  try { body = JSON.parse(raw.toString() || '{}'); } catch { return send(res, 400, { error: 'invalid JSON' }); }
  requests.push({ method: req.method, path: url.pathname, content_type: req.headers['content-type'] || '', keys: Object.keys(body).sort() });
  if (req.method !== 'POST') return send(res, 405, { error: 'method not allowed' });
  if (url.pathname === '/v1/identity-token-exchange') return exchange(req, res, body);
  if (url.pathname === '/graphql') return graphql(req, res);
  return send(res, 404, { error: 'not found' });
});
