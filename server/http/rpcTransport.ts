// The common JSON-RPC request, served on Node's http directly: a POST to /jsonrpc or to an /api/v1/ path
// that names a method, with a JSON Content-Type (UTF-8 or no charset), a Content-Length within
// BODY_LIMIT, no Content-Encoding, and no CORS Origin to answer. Anything else (every refusal, CORS,
// chunked or compressed bodies, other charsets, the token endpoint) goes to the Koa app (app.ts),
// which answers through the same answerRpc. Why: Koa's per-request context and koa-bodyparser (co-body,
// raw-body, type-is, inflation) cost more per call than all of Tether's checks together (bench/).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseJson } from '@hapi/bourne';
import type { Registry } from '../rpc/registry.ts';
import type { Services } from '../services.ts';
import { renderError } from '../errors.ts';
import { answerRpc, type Envelope, type RpcAnswer } from './rpcRoute.ts';
import { JSON_TYPES, methodForPath, ODOO_PREFIX } from './rpcPaths.ts';
import { peerOf, type TrustCheck } from './peer.ts';
import { clientRequestIdOf, newRequestId } from './requestId.ts';
import { cookieOf } from './cookie.ts';

/** What koa-bodyparser accepts as JSON (JSON_TYPES), narrowed to the UTF-8 bodies this path decodes itself. */
const JSON_CONTENT = new RegExp(`^(?:${JSON_TYPES.join('|')})[ \\t]*(?:;[ \\t]*charset[ \\t]*=[ \\t]*"?utf-8"?[ \\t]*)?$`, 'i');

type Served = (req: IncomingMessage, res: ServerResponse) => boolean;

/** Answers whether it took the request; when it did not, nothing was read or written. */
export function rpcTransport(services: Services, registry: Registry, proxies: TrustCheck): Served {
  const { config, log } = services;
  const corsOn = config.corsOrigins.length > 0;

  async function serve(req: IncomingMessage, res: ServerResponse, path: string, pathMethod: string | undefined): Promise<void> {
    const requestId = newRequestId();
    const headers = req.headers as Record<string, string | undefined>;
    const clientRequestId = clientRequestIdOf(headers['x-request-id']);
    try {
      const envelope: Envelope = {
        transport: pathMethod === undefined ? 'jsonrpc' : 'odoo',
        pathMethod,
        requestId,
        clientRequestId,
        instance: path,
        peer: peerOf(req.socket.remoteAddress, headers, proxies),
        headers,
        cookie: (name) => cookieOf(headers.cookie, name),
      };
      send(res, requestId, await answerRpc(parsedOf(await bodyOf(req)), envelope, registry, services));
    } catch (err) {
      log.error({ err, request_id: requestId, client_request_id: clientRequestId, path }, 'unexpected error');
      const error = renderError(err, { requestId, instance: path, problemBaseUrl: config.problemBaseUrl });
      send(res, requestId, { status: 500, headers: {}, body: { jsonrpc: '2.0', id: null, error } as RpcAnswer['body'] });
    }
  }

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    let pathMethod: string | undefined;
    if (path !== '/jsonrpc') {
      if (!path.startsWith(ODOO_PREFIX)) return false;
      pathMethod = methodForPath(path, registry);
      if (!pathMethod) return false;
    }
    const headers = req.headers;
    const type = headers['content-type'];
    if (type === undefined || !JSON_CONTENT.test(type)) return false;
    const encoding = headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
    const length = headers['content-length'];
    if (length === undefined || !(Number(length) <= config.bodyLimit)) return false;
    if (corsOn && headers.origin !== undefined) return false;
    void serve(req, res, path, pathMethod);
    return true;
  };
}

/** The body as text; undefined when the request broke off before its end. */
function bodyOf(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve((chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)).toString('utf8')));
    // After 'end' these change nothing; before it they mean the client went away.
    req.on('error', () => resolve(undefined));
    req.on('close', () => resolve(undefined));
  });
}

/** As koa-bodyparser parses (the Koa path): a leading BOM dropped, "__proto__" keys refused. */
function parsedOf(text: string | undefined): { ok: true; value: unknown } | { ok: false } {
  if (text === undefined) return { ok: false };
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.trim() === '') return { ok: false };
  try {
    return { ok: true, value: parseJson(body, { protoAction: 'error' }) };
  } catch {
    return { ok: false };
  }
}

/** The headers Koa would send for the same answer (app.ts), in one writeHead. */
function send(res: ServerResponse, requestId: string, answer: RpcAnswer): void {
  const headers: Record<string, string | number> = { 'X-Request-Id': requestId, 'Cache-Control': 'no-store', ...answer.headers };
  if (answer.body === null) {
    res.writeHead(204, headers).end();
    return;
  }
  const text = JSON.stringify(answer.body);
  headers['Content-Type'] = 'application/json; charset=utf-8';
  headers['Content-Length'] = Buffer.byteLength(text);
  res.writeHead(answer.status, headers).end(text);
}
