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
//   GET  /_test/count?path=/token  how many requests reached `path`
//
// With AS_ISSUER=1 the gate stands in the upstream's place as an issuer: its
// discovery document names the gate's own address wherever the upstream's
// appears, so clients that discover (VidiFlow) reach every endpoint through it.
//
// Env: UPSTREAM (base URL), AS_ISSUER, PORT (default 0). Prints `BASE=http://127.0.0.1:<port>`.
import http from 'node:http';
import { send, serve } from './serve.mjs';

const UPSTREAM = new URL(process.env.UPSTREAM);
const modes = new Map();
const counts = new Map();
const AS_ISSUER = process.env.AS_ISSUER === '1';

function forward(req, body, res, reshape) {
  const headers = { ...req.headers, host: UPSTREAM.host };
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
          if (json.expires_in !== undefined) json.expires_in = String(json.expires_in);
          if (typeof json.scope === 'string') json.scope = json.scope.split(' ');
          delete json.token_type;
          out = Buffer.from(JSON.stringify(json));
        }
        h['content-length'] = out.length;
        res.writeHead(upRes.statusCode, h);
        res.end(out);
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
  if (url.pathname === '/_test/count') return send(res, 200, { count: counts.get(url.searchParams.get('path')) || 0 });
  counts.set(url.pathname, (counts.get(url.pathname) || 0) + 1);
  const mode = modes.get(url.pathname) || 'none';
  if (mode === '500') return send(res, 500, { error: 'server_error' });
  if (mode === 'hang') return undefined;
  if (mode === 'garbage') return send(res, 200, '<html><body>Service maintenance</body></html>', 'text/html');
  if (mode === 'invalid_grant') return send(res, 400, { error: 'invalid_grant', error_description: 'grant request is invalid' });
  return forward(req, body, res, mode === 'lenient');
});
