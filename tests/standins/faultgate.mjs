// A fault gate for tests: a reverse proxy in front of a real server (the
// sandbox oidc-provider) that passes everything through until told to fail
// one path in a way real providers do. Not a stand-in for any vendor.
//
//   POST /_test/fail?path=/token&mode=<mode>   from now on, requests to `path` get:
//     none          passed through (the default)
//     500           HTTP 500 {"error":"server_error"}
//     hang          no answer at all
//     garbage       HTTP 200 with an HTML page
//     invalid_grant HTTP 400 {"error":"invalid_grant"}
//     lenient       passed through, the JSON answer reshaped the way some
//                   providers send it: expires_in as a string, scope as an
//                   array, no token_type
//     comma_scope   passed through, the JSON answer's `scope` joined with
//                   commas ("openid,email,broadcaster"), as GitHub does
//     refresh_ends  passed through, the JSON answer given
//                   `refresh_token_expires_in: 3600` (Microsoft identity
//                   platform, GitHub Apps: when the refresh token ends)
//     empty400      HTTP 400 with an empty body
//     vendor400     HTTP 400 {"status":400,"message":"Invalid refresh token"}
//                   (a vendor's own JSON, no `error` member)
//     unauthorized  HTTP 401 {"message":"Unauthorized"}
//     ratelimit     HTTP 429 with `Retry-After: 30`
//     slow          passed through, but the upstream's answer is held back
//                   for 300 ms (the upstream has acted on the request already:
//                   a refresh token has rotated while the answer is on its way)
//   GET  /_test/count?path=/token  how many requests reached `path`
//   POST /_test/upstream?url=<base>  sets the upstream (when UPSTREAM was not
//                   given: a sandbox provider that names the gate as its issuer
//                   can only start once the gate's address is known)
//
// With AS_ISSUER=1 the gate stands in the upstream's place as an issuer: its
// discovery document names the gate's own address wherever the upstream's
// appears, so clients that discover (VidiFlow) reach every endpoint through it,
// and the Host header is passed on as is, so the pages a browser gets lead it
// through the gate too. (A sandbox provider started with IDP_ISSUER=<gate>
// also signs ID tokens as the gate: a whole provider behind the gate.)
//
// Env: UPSTREAM (base URL; or set later, see above), AS_ISSUER, PORT (default 0). Prints `BASE=http://127.0.0.1:<port>`.
import http from 'node:http';
import { send, serve } from './serve.mjs';

let UPSTREAM = process.env.UPSTREAM ? new URL(process.env.UPSTREAM) : null;
const modes = new Map();
const counts = new Map();
const AS_ISSUER = process.env.AS_ISSUER === '1';

// How a mode reshapes a successful JSON answer that is passed through.
const reshapers = {
  lenient(json) {
    if (json.expires_in !== undefined) json.expires_in = String(json.expires_in);
    if (typeof json.scope === 'string') json.scope = json.scope.split(' ');
    delete json.token_type;
  },
  refresh_ends(json) {
    if (json.refresh_token) json.refresh_token_expires_in = 3600;
  },
  comma_scope(json) {
    if (typeof json.scope === 'string') json.scope = json.scope.split(' ').join(',');
  },
};

function forward(req, body, res, reshape, holdMs = 0) {
  if (!UPSTREAM) return send(res, 502, { error: 'no upstream set (POST /_test/upstream?url=...)' });
  // As an issuer, the gate keeps the Host header: the upstream then builds
  // every URL it hands out (login forms, redirects) on the gate's address.
  const headers = { ...req.headers, host: AS_ISSUER ? req.headers.host : UPSTREAM.host };
  delete headers['content-length'];
  const up = http.request(
    { hostname: UPSTREAM.hostname, port: UPSTREAM.port, path: req.url, method: req.method, headers: { ...headers, 'content-length': body.length } },
    (upRes) => {
      const chunks = [];
      upRes.on('data', (c) => chunks.push(c));
      upRes.on('end', () => {
        let out = Buffer.concat(chunks);
        const h = { ...upRes.headers };
        if (AS_ISSUER && req.url.startsWith('/.well-known/openid-configuration')) {
          out = Buffer.from(out.toString().split(UPSTREAM.origin).join(`http://${req.headers.host}`));
        }
        if (reshape && upRes.statusCode === 200) {
          const json = JSON.parse(out.toString());
          reshape(json);
          out = Buffer.from(JSON.stringify(json));
        }
        h['content-length'] = out.length;
        const answer = () => {
          res.writeHead(upRes.statusCode, h);
          res.end(out);
        };
        if (holdMs > 0) setTimeout(answer, holdMs);
        else answer();
      });
    },
  );
  up.on('error', (err) => send(res, 502, { error: String(err) }));
  up.end(body);
}

serve((req, res, url, body) => {
  if (url.pathname === '/_test/fail') {
    modes.set(url.searchParams.get('path'), url.searchParams.get('mode') || 'none');
    return send(res, 200, {});
  }
  if (url.pathname === '/_test/upstream') {
    UPSTREAM = new URL(url.searchParams.get('url'));
    return send(res, 200, {});
  }
  if (url.pathname === '/_test/count') return send(res, 200, { count: counts.get(url.searchParams.get('path')) || 0 });
  counts.set(url.pathname, (counts.get(url.pathname) || 0) + 1);
  const mode = modes.get(url.pathname) || 'none';
  if (mode === '500') return send(res, 500, { error: 'server_error' });
  if (mode === 'hang') return undefined;
  if (mode === 'garbage') return send(res, 200, '<html><body>Service maintenance</body></html>', 'text/html');
  if (mode === 'invalid_grant') return send(res, 400, { error: 'invalid_grant', error_description: 'grant request is invalid' });
  if (mode === 'empty400') {
    res.writeHead(400, { 'content-length': 0 });
    return res.end();
  }
  if (mode === 'vendor400') return send(res, 400, { status: 400, message: 'Invalid refresh token' });
  if (mode === 'unauthorized') return send(res, 401, { message: 'Unauthorized' });
  if (mode === 'ratelimit') {
    const text = 'Too Many Requests';
    res.writeHead(429, { 'content-type': 'text/plain', 'content-length': text.length, 'retry-after': '30' });
    return res.end(text);
  }
  return forward(req, body, res, reshapers[mode], mode === 'slow' ? 300 : 0);
});
