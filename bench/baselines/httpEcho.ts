// Baseline 0: the floor of any JSON-RPC service on Node: node:http alone, the body read and parsed,
// the request's params echoed back as a JSON-RPC answer. No framework, no auth, no checks.
import http from 'node:http';

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let id: unknown = null;
    let params: unknown;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown; params?: unknown };
      id = body.id ?? null;
      params = body.params;
    } catch {
      params = undefined;
    }
    const text = JSON.stringify({ jsonrpc: '2.0', id, result: { echo: params } });
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) }).end(text);
  });
});
const port = Number(process.env.PORT ?? 8072);
server.listen(port, '127.0.0.1', () => console.log(`node:http echo on ${port}`));
