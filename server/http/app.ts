// The Koa application: a request id on everything, a boundary for the unexpected, and a handful of
// routes. JSON-RPC paths hand a parsed body to answerRpc; nothing below it knows about Koa. The common
// JSON-RPC call does not come here: rpcTransport.ts serves it on Node's http, and hands this app
// every request it does not take (refusals, CORS, the uncommon body shapes), so both answer alike.
import Koa from 'koa';
import bodyParser from 'koa-bodyparser';
import { RpcError, renderError, type ErrorCode } from '../errors.ts';
import type { Registry } from '../rpc/registry.ts';
import type { Services } from '../services.ts';
import { answerRpc, type Envelope } from './rpcRoute.ts';
import { peerOf, trustedProxies } from './peer.ts';
import { clientRequestIdOf, newRequestId } from './requestId.ts';
import { elapsedSince } from './elapsed.ts';
import { readiness } from './health.ts';
import { JSON_TYPES, methodForPath, ODOO_PREFIX } from './rpcPaths.ts';
import { cookieOf } from './cookie.ts';

/** Extra Koa routes mounted before the JSON-RPC paths (the OAuth token endpoint, metrics). */
export type Route = (ctx: Koa.Context, services: Services) => Promise<boolean>;


function refuse(ctx: Koa.Context, services: Services, errorCode: ErrorCode, detail: string, id: string | number | null = null): void {
  const error = renderError(new RpcError(errorCode, detail), { requestId: ctx.state.requestId, instance: ctx.path, problemBaseUrl: services.config.problemBaseUrl });
  ctx.status = error.status;
  ctx.body = { jsonrpc: '2.0', id, error };
  const durationMs = elapsedSince(ctx.state.started as bigint).ms;
  services.log.info({ request_id: ctx.state.requestId, client_request_id: ctx.state.clientRequestId, path: ctx.path, status: error.status, error_code: errorCode, duration_ms: durationMs }, 'refused');
  // A refused request is a call too: the audit row names the path, since no method was read.
  services.audit.record({
    request_id: ctx.state.requestId,
    client_request_id: ctx.state.clientRequestId,
    method: `${ctx.method} ${ctx.path}`,
    status: error.status,
    error_code: errorCode,
    duration_ms: durationMs,
    ip: ctx.socket.remoteAddress,
    user_agent: ctx.get('user-agent'),
  });
}

export function createApp(services: Services, registry: Registry, routes: Route[] = []): Koa {
  const { config, log } = services;
  const app = new Koa();
  // A request that breaks mid-body (bad chunk, client gone) reaches Koa's error event: one log line,
  // not Koa's default print to stderr. Node's parser has already answered 400 or closed the socket.
  app.on('error', (err: Error & { code?: string }, ctx?: Koa.Context) => {
    log.warn({ err: err.message, code: err.code, request_id: ctx?.state?.requestId, path: ctx?.path }, 'request stream error');
  });
  const proxies = trustedProxies(config.trustedProxies);
  const parseJson = bodyParser({
    enableTypes: ['json'],
    extendTypes: { json: JSON_TYPES.slice(1) },
    jsonLimit: String(config.bodyLimit),
    strict: false,
    onerror: (err, ctx) => {
      ctx.state.bodyError = err;
    },
  });

  app.use(async (ctx, next) => {
    ctx.state.started = process.hrtime.bigint();
    ctx.state.requestId = newRequestId();
    ctx.state.clientRequestId = clientRequestIdOf(ctx.get('x-request-id'));
    ctx.set('X-Request-Id', ctx.state.requestId);
    try {
      await next();
    } catch (err) {
      log.error({ err, request_id: ctx.state.requestId, client_request_id: ctx.state.clientRequestId, path: ctx.path }, 'unexpected error');
      ctx.status = 500;
      ctx.body = { jsonrpc: '2.0', id: null, error: renderError(err, { requestId: ctx.state.requestId, instance: ctx.path, problemBaseUrl: config.problemBaseUrl }) };
    }
  });

  // CORS: off unless CORS_ORIGINS lists origins; then only those get Access-Control-Allow-Origin, and a
  // preflight (OPTIONS with Access-Control-Request-Method) on an RPC path is answered here. No
  // credentials mode: Tether never sets a cookie.
  const corsOrigins = new Set(config.corsOrigins);
  app.use(async (ctx, next) => {
    if (!corsOrigins.size || !(ctx.path === '/jsonrpc' || ctx.path.startsWith(ODOO_PREFIX))) return next();
    ctx.vary('Origin');
    const origin = ctx.get('origin');
    if (!origin || !corsOrigins.has(origin)) return next();
    ctx.set('Access-Control-Allow-Origin', origin);
    ctx.set('Access-Control-Expose-Headers', 'X-Request-Id, Retry-After');
    if (ctx.method === 'OPTIONS' && ctx.get('access-control-request-method')) {
      ctx.set('Access-Control-Allow-Methods', 'POST');
      ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, Accept-Language, X-Openerp-Session-Id, X-Client-Fingerprint, X-Request-Id');
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return;
    }
    await next();
  });

  app.use(async (ctx, next) => {
    if (ctx.path === '/healthz') {
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return refuse(ctx, services, 'METHOD_NOT_ALLOWED', 'Use GET /healthz');
      ctx.body = { status: 'ok' };
      return;
    }
    if (ctx.path === '/readyz') {
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return refuse(ctx, services, 'METHOD_NOT_ALLOWED', 'Use GET /readyz');
      const ready = await readiness(services);
      ctx.status = ready.ok ? 200 : 503;
      ctx.body = ready;
      return;
    }
    for (const route of routes) if (await route(ctx, services)) return;
    await next();
  });

  app.use(async (ctx, next) => {
    const transport = ctx.path === '/jsonrpc' ? 'jsonrpc' : ctx.path.startsWith(ODOO_PREFIX) ? 'odoo' : undefined;
    if (!transport) return refuse(ctx, services, 'PATH_NOT_FOUND', `No route for ${ctx.method} ${ctx.path.slice(0, 200)}; JSON-RPC is served at POST /jsonrpc and POST /api/v1/<method path>`);
    const pathMethod = transport === 'odoo' ? methodForPath(ctx.path, registry) : undefined;
    if (transport === 'odoo' && !pathMethod) {
      // A JSON-RPC body posted to a path no method has: the answer still carries the body's id, so a
      // client matching answers to requests by id (Odoo clients do) sees which call failed.
      let id: string | number | null = null;
      if (ctx.method === 'POST' && ctx.is(JSON_TYPES)) {
        await parseJson(ctx, async () => {});
        const body = ctx.state.bodyError ? undefined : (ctx.request.body as unknown);
        const given = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { id?: unknown }).id : undefined;
        if (typeof given === 'string' || (typeof given === 'number' && Number.isFinite(given))) id = given;
      }
      return refuse(ctx, services, 'PATH_NOT_FOUND', `No method for ${ctx.path.slice(0, 200)}; rpc.discover lists them`, id);
    }
    if (ctx.method !== 'POST') {
      ctx.set('Allow', 'POST');
      return refuse(ctx, services, 'METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path}: JSON-RPC calls are POST with a JSON body`);
    }
    if (!ctx.is(JSON_TYPES)) return refuse(ctx, services, 'UNSUPPORTED_MEDIA_TYPE', `Content-Type ${JSON.stringify(ctx.get('content-type') || '(none)')} is not accepted: send application/json`);
    await parseJson(ctx, async () => {});
    const bodyError = ctx.state.bodyError as { status?: number; type?: string } | undefined;
    if (bodyError?.status === 413) return refuse(ctx, services, 'PAYLOAD_TOO_LARGE', `The body exceeds the limit of ${config.bodyLimit} bytes`);
    const raw = (ctx.request as { rawBody?: string }).rawBody;
    const parsed = bodyError || raw === undefined || raw.trim() === '' ? { ok: false as const } : { ok: true as const, value: ctx.request.body };

    const headers = ctx.headers as Record<string, string | undefined>;
    const envelope: Envelope = {
      transport,
      pathMethod,
      requestId: ctx.state.requestId,
      clientRequestId: ctx.state.clientRequestId,
      instance: ctx.path,
      peer: peerOf(ctx.socket.remoteAddress, headers, proxies),
      headers,
      cookie: (name) => cookieOf(headers.cookie, name),
    };
    const answer = await answerRpc(parsed, envelope, registry, services);
    // Answers carry session ids, users and sessions: no cache may keep them (login and logout above all).
    ctx.set('Cache-Control', 'no-store');
    ctx.set(answer.headers);
    if (answer.body === null) {
      ctx.status = 204;
      return;
    }
    ctx.status = answer.status;
    ctx.body = answer.body;
    await next();
  });

  return app;
}
