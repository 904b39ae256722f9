// What every stand-in shares: answering JSON, reading a request, listening on
// 127.0.0.1:$PORT (default any), printing `BASE=http://127.0.0.1:<port>` once
// listening, and stopping on SIGTERM/SIGINT.
import http from 'node:http';

export function send(res, status, body, type = 'application/json') {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/// `handler(req, res, url, raw)` gets each request once its body (at most
/// 64 KiB, a Buffer) has arrived.
export function serve(handler) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => { size += c.length; if (size > 65536) req.destroy(); else chunks.push(c); });
    req.on('end', () => {
      Promise.resolve(handler(req, res, new URL(req.url, 'http://x'), Buffer.concat(chunks)))
        .catch((err) => send(res, 500, { error: String(err) }));
    });
  });
  server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
    console.log(`BASE=http://127.0.0.1:${server.address().port}`);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => { server.close(() => process.exit(0)); server.closeAllConnections(); });
  }
  return server;
}
