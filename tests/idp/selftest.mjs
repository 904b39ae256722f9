// End-to-end self test of the sandbox IdP (server.mjs) and the scripted
// browser (browser / browser.mjs). Run: `cd tests/idp && node selftest.mjs`
// (or `npm run selftest`). Prints `selftest: N passed, M failed`; exits
// non-zero if anything failed. IDP_SELFTEST_VERBOSE=1 echoes the server's and
// the browser's stderr.

import { spawn } from 'node:child_process';
import {
  createHash, createPublicKey, randomBytes, verify,
} from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const VERBOSE = process.env.IDP_SELFTEST_VERBOSE === '1';
const SCOPE = 'openid offline_access email profile broadcaster';
const LOGIN = 'selftest-streamer';
const TMP = mkdtempSync(path.join(os.tmpdir(), 'castkey-idp-selftest-'));

let passed = 0;
let failed = 0;
const serverErr = [];

function check(name, ok, detail) {
  if (ok) {
    passed += 1;
    console.log(`ok   ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name}${detail !== undefined ? `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}` : ''}`);
  }
  return ok;
}

function must(name, ok, detail) {
  if (!check(name, ok, detail)) throw new Error(`required check failed: ${name}`);
}

async function section(title, fn) {
  console.log(`# ${title}`);
  try {
    await fn();
  } catch (err) {
    failed += 1;
    console.log(`FAIL ${title}: aborted: ${err.message}`);
  }
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const basic = (id, secret) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function postForm(url, params, auth) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (auth) headers.authorization = auth;
  const res = await fetch(url, { method: 'POST', headers, body: new URLSearchParams(params).toString() });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text };
}

// --- start the provider ----------------------------------------------------

function startServer() {
  const child = spawn(process.execPath, [path.join(HERE, 'server.mjs')], {
    env: { ...process.env, IDP_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdoutLines = [];
  let buf = '';
  child.stderr.on('data', (d) => {
    serverErr.push(d.toString());
    if (VERBOSE) process.stderr.write(d);
  });
  const issuer = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not print ISSUER= within 15s')), 15000);
    child.stdout.on('data', (d) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        stdoutLines.push(line);
        const m = /^ISSUER=(.*)$/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited early with ${code}`));
    });
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, issuer, exited, stdoutLines };
}

// --- loopback callback listener -------------------------------------------

async function startCallbackListener() {
  let deliver;
  const received = new Promise((resolve) => { deliver = resolve; });
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://127.0.0.1');
    if (u.pathname === '/callback') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('Castkey selftest: you can close this window.');
      deliver(u.searchParams);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: server.address().port, received };
}

// --- scripted browser --------------------------------------------------------

function runBrowser(url, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(path.join(HERE, 'browser'), [url], {
      env: { ...process.env, CASTKEY_TEST_LOGIN: LOGIN, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d.toString();
      if (VERBOSE) process.stderr.write(d);
    });
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

function newPkce() {
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  return { verifier, challenge };
}

function authUrl(disco, { redirectUri, pkce, state, nonce, prompt = 'consent', scope = SCOPE }) {
  const u = new URL(disco.authorization_endpoint);
  const params = {
    client_id: 'castkey',
    response_type: 'code',
    redirect_uri: redirectUri,
    scope,
    state,
    nonce,
  };
  if (prompt) params.prompt = prompt;
  if (pkce) {
    params.code_challenge = pkce.challenge;
    params.code_challenge_method = 'S256';
  }
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.href;
}

function decodeJwt(jwt) {
  const [h, p] = jwt.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')) };
}

async function verifyJwtSignature(jwt, jwksUri) {
  const { header } = decodeJwt(jwt);
  const { keys } = await (await fetch(jwksUri)).json();
  const jwk = keys.find((k) => k.kid === header.kid);
  if (!jwk || header.alg !== 'RS256') return false;
  const [h, p, s] = jwt.split('.');
  return verify('sha256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
}

// --- main --------------------------------------------------------------------

const srv = startServer();
let issuer;
let disco;

try {
  await section('server start + discovery', async () => {
    issuer = await srv.issuer;
    must('ISSUER line printed', /^http:\/\/127\.0\.0\.1:\d+$/.test(issuer), issuer);
    const res = await fetch(`${issuer}/.well-known/openid-configuration`);
    disco = await res.json();
    must('discovery 200', res.status === 200, res.status);
    check('discovery issuer matches', disco.issuer === issuer, disco.issuer);
    for (const ep of ['authorization_endpoint', 'token_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'userinfo_endpoint', 'jwks_uri', 'end_session_endpoint']) {
      must(`discovery has ${ep}`, typeof disco[ep] === 'string', disco[ep]);
    }
    for (const s of SCOPE.split(' ').concat('api1')) {
      check(`scope ${s} supported`, disco.scopes_supported.includes(s), disco.scopes_supported);
    }
    check('iss in authorization response advertised', disco.authorization_response_iss_parameter_supported === true);
    check('S256 only PKCE', JSON.stringify(disco.code_challenge_methods_supported) === '["S256"]', disco.code_challenge_methods_supported);
  });

  if (!disco) throw new Error('cannot continue without discovery');

  let tokens;
  let loopbackRedirect;
  await section('authorization code flow via loopback redirect + scripted browser', async () => {
    const cb = await startCallbackListener();
    try {
      loopbackRedirect = `http://127.0.0.1:${cb.port}/callback`;
      const pkce = newPkce();
      const state = b64url(randomBytes(12));
      const nonce = b64url(randomBytes(12));
      const browserLog = path.join(TMP, 'browser.log');
      const url = authUrl(disco, { redirectUri: loopbackRedirect, pkce, state, nonce });
      const run = await runBrowser(url, { CASTKEY_TEST_BROWSER_LOG: browserLog });
      must('browser exits 0', run.code === 0, run.stderr.slice(-800));
      const logText = readFileSync(browserLog, 'utf8');
      check('browser log file written (login + consent steps)', /login form/.test(logText) && /consent form: continue/.test(logText), logText);
      const params = await Promise.race([cb.received, new Promise((r) => { setTimeout(() => r(null), 5000); })]);
      must('callback received on loopback (registered without port)', params !== null);
      check('callback state matches', params.get('state') === state, params.get('state'));
      check('callback iss = issuer', params.get('iss') === issuer, params.get('iss'));
      must('callback has code', !!params.get('code'), [...params.keys()]);
      check('browser log has no code value', !logText.includes(params.get('code')));

      const res = await postForm(disco.token_endpoint, {
        grant_type: 'authorization_code',
        code: params.get('code'),
        redirect_uri: loopbackRedirect,
        client_id: 'castkey',
        code_verifier: pkce.verifier,
      });
      must('token exchange 200', res.status === 200, res.text);
      tokens = res.json;
      check('access_token issued', typeof tokens.access_token === 'string' && tokens.access_token.split('.').length === 1, 'expected opaque token');
      check('refresh_token issued', typeof tokens.refresh_token === 'string', Object.keys(tokens));
      check('id_token issued', typeof tokens.id_token === 'string', Object.keys(tokens));
      check('token_type Bearer', tokens.token_type === 'Bearer', tokens.token_type);
      check('expires_in = 3600 (IDP_ACCESS_TTL default)', tokens.expires_in === 3600, tokens.expires_in);
      check('token response scope includes broadcaster + offline_access', tokens.scope?.split(' ').includes('broadcaster') && tokens.scope?.split(' ').includes('offline_access'), tokens.scope);

      const { payload } = decodeJwt(tokens.id_token);
      check('id_token signature verifies against jwks', await verifyJwtSignature(tokens.id_token, disco.jwks_uri));
      check('id_token iss/aud/nonce/sub', payload.iss === issuer && payload.aud === 'castkey' && payload.nonce === nonce && payload.sub === LOGIN, payload);
      check('id_token lifetime 3600', payload.exp - payload.iat === 3600, payload.exp - payload.iat);

      const ui = await fetch(disco.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      const claims = await ui.json();
      check('userinfo claims', ui.status === 200 && claims.sub === LOGIN && claims.email === `${LOGIN}@example.test`
        && claims.email_verified === true && claims.name === LOGIN && claims.preferred_username === LOGIN, claims);

    } finally {
      cb.server.close();
    }
  });

  const introspect = (token, hint) => postForm(
    disco.introspection_endpoint,
    hint ? { token, token_type_hint: hint } : { token },
    basic('introspector', 'introspector-secret'),
  );

  await section('introspection / refresh / revocation', async () => {
    must('have tokens from the code flow', !!tokens?.refresh_token);
    const at = await introspect(tokens.access_token);
    must('introspection 200', at.status === 200, at.text);
    check('access token active', at.json.active === true, at.json);
    check('access token scope contains broadcaster', at.json.scope?.split(' ').includes('broadcaster'), at.json.scope);
    check('access token client_id/sub', at.json.client_id === 'castkey' && at.json.sub === LOGIN, at.json);
    check('access token introspected exp-iat = 3600', at.json.exp - at.json.iat === 3600, at.json);

    const badAuth = await postForm(disco.introspection_endpoint, { token: tokens.access_token }, basic('introspector', 'wrong'));
    check('introspection with wrong secret rejected', badAuth.status === 401, badAuth.status);
    const other = await postForm(disco.introspection_endpoint, { token: tokens.access_token }, basic('vidiflow-service', 'vidiflow-secret'));
    check('other confidential client cannot introspect castkey tokens', other.status === 200 && other.json.active === false, other.json);

    const rt0 = await introspect(tokens.refresh_token, 'refresh_token');
    check('refresh token active', rt0.json.active === true && rt0.json.client_id === 'castkey', rt0.json);
    check('refresh token lifetime 14 days', rt0.json.exp - rt0.json.iat === 14 * 24 * 3600, rt0.json);

    const ref = await postForm(disco.token_endpoint, {
      grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'castkey',
    });
    must('refresh 200', ref.status === 200, ref.text);
    check('refresh returns new access token', typeof ref.json.access_token === 'string' && ref.json.access_token !== tokens.access_token);
    check('refresh token rotated', typeof ref.json.refresh_token === 'string' && ref.json.refresh_token !== tokens.refresh_token);
    check('refresh returns id_token', typeof ref.json.id_token === 'string');
    const at2 = await introspect(ref.json.access_token);
    check('refreshed access token has broadcaster', at2.json.active === true && at2.json.scope?.split(' ').includes('broadcaster'), at2.json);
    const old = await introspect(tokens.refresh_token, 'refresh_token');
    check('old refresh token inactive after rotation', old.json.active === false, old.json);

    const rev = await postForm(disco.revocation_endpoint, {
      token: ref.json.refresh_token, token_type_hint: 'refresh_token', client_id: 'castkey',
    });
    check('revocation 200', rev.status === 200, rev.text);
    const gone = await introspect(ref.json.refresh_token, 'refresh_token');
    check('revoked refresh token inactive', gone.json.active === false, gone.json);
    const reuse = await postForm(disco.token_endpoint, {
      grant_type: 'refresh_token', refresh_token: ref.json.refresh_token, client_id: 'castkey',
    });
    check('revoked refresh token cannot be used', reuse.status === 400 && reuse.json?.error === 'invalid_grant', reuse.text);
  });

  await section('client_credentials (vidiflow-service, scope api1)', async () => {
    const cc = await postForm(disco.token_endpoint, { grant_type: 'client_credentials', scope: 'api1' }, basic('vidiflow-service', 'vidiflow-secret'));
    must('client_credentials 200', cc.status === 200, cc.text);
    check('cc access_token', typeof cc.json.access_token === 'string');
    check('cc expires_in = 3600 (IDP_CC_TTL default)', cc.json.expires_in === 3600, cc.json.expires_in);
    check('cc scope api1', cc.json.scope === 'api1', cc.json.scope);
    const i = await introspect(cc.json.access_token);
    check('cc token introspects active with api1', i.json.active === true && i.json.client_id === 'vidiflow-service' && i.json.scope === 'api1', i.json);
    const bad = await postForm(disco.token_endpoint, { grant_type: 'client_credentials', scope: 'broadcaster' }, basic('vidiflow-service', 'vidiflow-secret'));
    check('cc with scope outside client allow-list rejected', bad.status === 400 && bad.json?.error === 'invalid_scope', bad.text);
  });

  await section('custom scheme redirect held in a file', async () => {
    const pkce = newPkce();
    const state = b64url(randomBytes(12));
    const hold = path.join(TMP, 'x.url');
    const url = authUrl(disco, { redirectUri: 'dev.castkey.app:/callback', pkce, state, nonce: 'n1' });
    const run = await runBrowser(url, { CASTKEY_TEST_BROWSER_HOLD: hold });
    must('browser exits 0', run.code === 0, run.stderr.slice(-800));
    const held = readFileSync(hold, 'utf8');
    const u = new URL(held);
    check('held URL is dev.castkey.app:/callback', u.protocol === 'dev.castkey.app:' && u.pathname === '/callback', held.split('?')[0]);
    check('held URL has code, state, iss', !!u.searchParams.get('code') && u.searchParams.get('state') === state && u.searchParams.get('iss') === issuer);
    const res = await postForm(disco.token_endpoint, {
      grant_type: 'authorization_code', code: u.searchParams.get('code'), redirect_uri: 'dev.castkey.app:/callback', client_id: 'castkey', code_verifier: pkce.verifier,
    });
    check('custom-scheme code exchanges with refresh_token', res.status === 200 && !!res.json.refresh_token, res.text);

    // Replaying a code fails AND (oidc-provider behaviour, RFC 6749 4.1.2)
    // revokes every token already issued from it.
    const reuse = await postForm(disco.token_endpoint, {
      grant_type: 'authorization_code', code: u.searchParams.get('code'), redirect_uri: 'dev.castkey.app:/callback', client_id: 'castkey', code_verifier: pkce.verifier,
    });
    check('authorization code is single-use', reuse.status === 400 && reuse.json?.error === 'invalid_grant', reuse.text);
    const after = await introspect(res.json.refresh_token, 'refresh_token');
    check('code replay revokes the tokens issued from it', after.json.active === false, after.json);
  });

  await section('consent denied', async () => {
    const hold = path.join(TMP, 'deny.url');
    const state = b64url(randomBytes(12));
    const url = authUrl(disco, { redirectUri: 'dev.castkey.app:/callback', pkce: newPkce(), state, nonce: 'n2' });
    const run = await runBrowser(url, { CASTKEY_TEST_BROWSER_HOLD: hold, CASTKEY_TEST_BROWSER_DENY: '1' });
    must('browser exits 0', run.code === 0, run.stderr.slice(-800));
    const u = new URL(readFileSync(hold, 'utf8'));
    check('redirect carries error=access_denied, state, iss', u.searchParams.get('error') === 'access_denied'
      && u.searchParams.get('state') === state && u.searchParams.get('iss') === issuer && !u.searchParams.get('code'), u.href);
  });

  await section('provider policy quirks', async () => {
    // Without prompt=consent oidc-provider drops offline_access: no refresh token.
    const cb = await startCallbackListener();
    try {
      const redirectUri = `http://localhost:${cb.port}/callback`;
      const pkce = newPkce();
      const url = authUrl(disco, {
        redirectUri: `http://127.0.0.1:${cb.port}/callback`, pkce, state: 's', nonce: 'n', prompt: null,
      });
      const run = await runBrowser(url);
      must('browser exits 0', run.code === 0, run.stderr.slice(-800));
      const params = await cb.received;
      const res = await postForm(disco.token_endpoint, {
        grant_type: 'authorization_code', code: params.get('code'), redirect_uri: `http://127.0.0.1:${cb.port}/callback`, client_id: 'castkey', code_verifier: pkce.verifier,
      });
      check('without prompt=consent: tokens but no refresh_token', res.status === 200 && !res.json.refresh_token && !!res.json.access_token, res.text);

      // localhost is not the registered host: rejected (no redirect to it).
      const r2 = await fetch(authUrl(disco, { redirectUri, pkce, state: 's', nonce: 'n' }), { redirect: 'manual' });
      check('unregistered loopback host (localhost) rejected without redirect', r2.status === 400, r2.status);
    } finally {
      cb.server.close();
    }
    const noPkce = await fetch(authUrl(disco, { redirectUri: 'dev.castkey.app:/callback', state: 's', nonce: 'n' }), { redirect: 'manual' });
    const loc = noPkce.headers.get('location') || '';
    check('PKCE required for castkey', noPkce.status === 303 && loc.startsWith('dev.castkey.app:/callback') && new URL(loc).searchParams.get('error') === 'invalid_request', `${noPkce.status} ${loc}`);
  });

  await section('stdout protocol + shutdown', async () => {
    check('server printed exactly one stdout line', srv.stdoutLines.length === 1, srv.stdoutLines);
    srv.child.kill('SIGTERM');
    const { code, signal } = await srv.exited;
    check('server exits 0 on SIGTERM', code === 0, { code, signal });
  });
} catch (err) {
  failed += 1;
  console.log(`FAIL ${err.message}`);
} finally {
  if (srv.child.exitCode === null && srv.child.signalCode === null) srv.child.kill('SIGTERM');
  rmSync(TMP, { recursive: true, force: true });
}

if (failed && !VERBOSE) {
  console.log('--- server stderr ---');
  console.log(serverErr.join('').slice(-4000));
}
console.log(`selftest: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
