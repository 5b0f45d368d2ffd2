// GET /console/api/events: the live feed of session events for the console's page, as Server-Sent
// Events on the console's cookie (EventSource sends no Authorization header; the cookie is the session).
// The caller is checked by the same decorators as an admin method (requireJwt with the console's bearer,
// requireSession, the admin flag, requireRecentProof), once at the start and again every RECHECK_MS, so
// a revoked or expired session's stream ends. Resumable: EventSource sends Last-Event-ID on a reconnect.
import { PassThrough } from 'node:stream';
import type Koa from 'koa';
import { decoratorsFor } from '../auth/requirements.ts';
import { RpcError, renderError } from '../errors.ts';
import type { CallContext } from '../rpc/context.ts';
import type { Services } from '../services.ts';
import type { ConsoleApiRoute, ConsoleCall } from '../http/consoleRoute.ts';
import { elapsedSince } from '../http/elapsed.ts';
import { parseEventId, type SessionEvent } from '../events/sessionEvent.ts';
import { sseComment, sseEnd, sseMessage, sseRetry } from '../events/sseFormat.ts';

const PATH = '/console/api/events';
const HEARTBEAT_MS = 15_000;
const RECHECK_MS = 30_000;
/** What the method is called in the log and the audit. */
const METHOD = 'console.events';

/** What the console needs of the event feed (server/events/eventFeed.ts). */
export interface FeedSource {
  subscribe(afterId: string | undefined, onEvent: (e: SessionEvent) => void): () => void;
}

/**
 * The adapter: where this process's event feed lives. The feed is built beside the other services
 * (issue 25's events half); until a process has one, the console's feed answers 404 and says why.
 */
export const feedOf = (services: Services): FeedSource | undefined => (services as Services & { events?: FeedSource }).events;

const adminCheck = decoratorsFor({ admin: true, scope: 'admin' })(async () => true);

/** The admin method's checks on the cookie's session: the context as checked, and the refusal if any. */
async function authorize(call: ConsoleCall): Promise<{ callCtx: CallContext; refused?: unknown }> {
  const envelope = call.envelope();
  const callCtx: CallContext = {
    requestId: envelope.requestId,
    transport: 'console',
    instance: envelope.instance,
    peer: envelope.peer,
    headers: envelope.headers,
    cookie: envelope.cookie,
    rawParams: {},
    record: { method: METHOD },
    services: call.services,
  };
  try {
    await adminCheck({}, callCtx);
    return { callCtx };
  } catch (refused) {
    return { callCtx, refused };
  }
}

function audit(services: Services, ctx: Koa.Context, callCtx: CallContext, status: number, errorCode?: string): void {
  const r = callCtx.record;
  services.audit.record({
    request_id: callCtx.requestId,
    client_request_id: ctx.state.clientRequestId,
    method: METHOD,
    status,
    error_code: errorCode,
    duration_ms: elapsedSince(ctx.state.started as bigint).ms,
    user_id: r.userId,
    client_id: r.clientId,
    session_hash_prefix: r.sessionHashPrefix,
    reason: r.reason,
    ip: callCtx.peer.ip,
    user_agent: callCtx.peer.userAgent,
  });
}

export function consoleEvents(source: (services: Services) => FeedSource | undefined = feedOf): ConsoleApiRoute {
  return async (ctx, call) => {
    if (ctx.path !== PATH || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return false;
    const { services } = call;
    const problem = (code: ConstructorParameters<typeof RpcError>[0], detail: string, extra?: Record<string, unknown>) => {
      const error = renderError(new RpcError(code, detail, extra), { requestId: ctx.state.requestId, instance: ctx.path, problemBaseUrl: services.config.problemBaseUrl });
      ctx.status = error.status;
      ctx.body = { jsonrpc: '2.0', id: null, error };
      return true;
    };
    const site = ctx.get('sec-fetch-site');
    if (site && site !== 'same-origin') return problem('FORBIDDEN', `Console requests come from the console's own page only (Sec-Fetch-Site is ${site.slice(0, 40)}).`);
    const feed = source(services);
    if (!feed) return problem('PATH_NOT_FOUND', 'This process has no event feed: the console\'s live feed is unavailable.');
    const afterId = parseEventId(ctx.get('last-event-id') || (typeof ctx.query.after === 'string' ? ctx.query.after : undefined));
    if (afterId === null) return problem('INVALID_PARAMS', 'Last-Event-ID must be an event id (digits)');

    const { callCtx, refused } = await authorize(call);
    if (refused) {
      const error = renderError(refused, { requestId: ctx.state.requestId, instance: ctx.path, problemBaseUrl: services.config.problemBaseUrl });
      ctx.status = error.status;
      ctx.body = { jsonrpc: '2.0', id: null, error };
      audit(services, ctx, callCtx, error.status, error.data.error_code);
      return true;
    }
    audit(services, ctx, callCtx, 200);

    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.req.socket.setKeepAlive(true);
    ctx.status = 200;
    ctx.set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    const stream = new PassThrough();
    ctx.body = stream;
    stream.write(sseRetry(2000));
    let closed = false;
    const unsubscribe = feed.subscribe(afterId, (e) => {
      if (!closed) stream.write(sseMessage(e));
    });
    const heartbeat = setInterval(() => stream.write(sseComment()), HEARTBEAT_MS);
    const recheck = setInterval(() => {
      void authorize(call).then(({ refused }) => {
        if (!refused) return;
        const code = refused instanceof RpcError ? refused.errorCode : 'STORAGE_UNAVAILABLE';
        // Storage trouble is not the session's end: the next check decides.
        if (code === 'STORAGE_UNAVAILABLE') return;
        stream.write(sseEnd(code === 'REAUTH_REQUIRED' ? 'reauth_required' : 'session_ended'));
        stop();
      });
    }, RECHECK_MS);
    const stop = () => {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      clearInterval(recheck);
      unsubscribe();
      stream.end();
    };
    ctx.res.on('close', stop);
    return true;
  };
}
