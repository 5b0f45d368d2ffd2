// GET /api/v1/admin/events: the session events as Server-Sent Events, for an admin session (the same
// checks as an admin RPC: bearer with scope "admin", an admin user's session in the
// X-Openerp-Session-Id header or the session_id cookie, a password proof within ADMIN_REAUTH_WINDOW
// when the stream opens). Resumable: Last-Event-ID (or ?after=<id> for clients that cannot set
// headers) replays the events after that id, then the stream goes live. A refusal before streaming
// answers the JSON-RPC error shape with its HTTP status. The stream ends (an `event: stream.end`
// message, then the connection closed) when its session ends, its user is disabled or loses the admin
// flag, or the client reads too slowly; the client reconnects with Last-Event-ID.
import type Koa from 'koa';
import type { Services } from '../services.ts';
import type { Route } from './app.ts';
import { RpcError, renderError } from '../errors.ts';
import { decoratorsFor } from '../auth/requirements.ts';
import type { SessionContext } from '../auth/requireSession.ts';
import type { CallContext } from '../rpc/context.ts';
import { peerOf, trustedProxies, type TrustCheck } from './peer.ts';
import { cookieOf } from './cookie.ts';
import { elapsedSince } from './elapsed.ts';
import { parseEventId } from '../events/sessionEvent.ts';
import { sseComment, sseEnd, sseMessage, sseRetry } from '../events/sseFormat.ts';

export const EVENTS_PATH = '/api/v1/admin/events';
const METHOD = `GET ${EVENTS_PATH}`;
/** Bytes a client may leave unread before its stream is closed (it resumes with Last-Event-ID). */
const MAX_UNREAD = 1 << 20;

const adminOnly = decoratorsFor({ admin: true, scope: 'admin' })(async (_params, ctx) => ctx);

export interface EventsRoute {
  route: Route;
  /** Ends every open stream (shutdown: the server drains, and the clients reconnect elsewhere). */
  closeAll(): void;
}

export function eventsRoute(services: Services): EventsRoute {
  const proxies: TrustCheck = trustedProxies(services.config.trustedProxies);
  const open = new Set<(reason: string) => void>();

  function audit(ctx: Koa.Context, call: CallContext, status: number, errorCode?: string) {
    const started = ctx.state.started as bigint;
    const durationMs = elapsedSince(started).ms;
    services.callLog({
      request_id: ctx.state.requestId,
      client_request_id: ctx.state.clientRequestId,
      transport: 'odoo',
      method: METHOD,
      status,
      error_code: errorCode,
      duration_ms: durationMs,
      client_id: call.record.clientId,
      user_id: call.record.userId,
      session: call.record.sessionPrefix,
    });
    services.audit.record({
      request_id: ctx.state.requestId,
      client_request_id: ctx.state.clientRequestId,
      method: METHOD,
      status,
      error_code: errorCode,
      duration_ms: durationMs,
      user_id: call.record.userId,
      client_id: call.record.clientId,
      session_hash_prefix: call.record.sessionHashPrefix,
      reason: call.record.reason,
      ip: call.peer.ip,
      user_agent: call.peer.userAgent,
    });
  }

  function refuse(ctx: Koa.Context, call: CallContext, err: unknown) {
    const error = renderError(err, { requestId: ctx.state.requestId, instance: ctx.path, problemBaseUrl: services.config.problemBaseUrl });
    if (!(err instanceof RpcError)) services.log.error({ err, request_id: ctx.state.requestId, path: ctx.path }, 'unexpected error');
    ctx.status = error.status;
    ctx.set('Cache-Control', 'no-store');
    if (err instanceof RpcError && err.headers) ctx.set(err.headers);
    ctx.body = { jsonrpc: '2.0', id: null, error };
    audit(ctx, call, error.status, error.data.error_code);
  }

  const route: Route = async (ctx) => {
    if (ctx.path !== EVENTS_PATH) return false;
    const headers = ctx.headers as Record<string, string | undefined>;
    const call: CallContext = {
      requestId: ctx.state.requestId,
      transport: 'odoo',
      instance: ctx.path,
      peer: peerOf(ctx.socket.remoteAddress, headers, proxies),
      headers,
      cookie: (name) => cookieOf(headers.cookie, name),
      rawParams: undefined,
      record: { method: METHOD },
      services,
    };
    if (ctx.method !== 'GET') {
      ctx.set('Allow', 'GET');
      refuse(ctx, call, new RpcError('METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${EVENTS_PATH}: open it with GET (Accept: text/event-stream)`));
      return true;
    }
    const given = headers['last-event-id'] ?? (typeof ctx.query.after === 'string' ? ctx.query.after : undefined);
    const after = parseEventId(given);
    if (after === null) {
      refuse(ctx, call, new RpcError('INVALID_REQUEST', 'Last-Event-ID (or ?after=) must be an event id: a decimal integer', { field: 'Last-Event-ID' }));
      return true;
    }
    let admin: SessionContext;
    try {
      admin = (await adminOnly(undefined, call)) as SessionContext;
    } catch (err) {
      refuse(ctx, call, err);
      return true;
    }
    audit(ctx, call, 200);
    stream(ctx, admin, after);
    return true;
  };

  function stream(ctx: Koa.Context, admin: SessionContext, after: string | undefined) {
    const { config, log, events, sessionRows } = services;
    ctx.respond = false;
    const res = ctx.res;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      // nginx and similar buffer responses unless told not to.
      'X-Accel-Buffering': 'no',
      'X-Request-Id': ctx.state.requestId,
    });
    res.flushHeaders();
    let closed = false;
    const hash = admin.session.hash;
    const prefix = admin.session.prefix;
    const write = (text: string) => {
      if (closed) return;
      res.write(text);
      if (res.writableLength > MAX_UNREAD) end('slow_reader');
    };
    const end = (reason: string) => {
      if (closed) return;
      res.write(sseEnd(reason));
      closed = true;
      cleanup();
      res.end();
      log.info({ request_id: ctx.state.requestId, session: prefix, reason }, '[EVENTS] stream closed');
    };
    /** Still an admin's live session? PostgreSQL says, without sliding the idle clock (a stream is no activity). */
    let checking = false;
    const check = async () => {
      if (closed || checking) return;
      checking = true;
      try {
        const row = await sessionRows.findByHash(hash);
        const now = Date.now();
        const why = !row ? 'session_ended'
          : !row.is_active ? `session_ended:${row.end_reason ?? 'revoked'}`
          : !row.user_active ? 'user_disabled'
          : !row.is_admin ? 'not_admin'
          : row.expires_at.getTime() <= now ? 'session_ended:absolute'
          : row.last_activity.getTime() + config.sessionIdleTimeout * 1000 <= now ? 'session_ended:idle'
          : undefined;
        if (why) end(why);
      } catch (err) {
        // PostgreSQL unreachable: the stream carries nothing new meanwhile; checked again next time.
        log.debug({ err: (err as Error).message }, 'events stream: session check failed');
      } finally {
        checking = false;
      }
    };
    const unsubscribe = events.feed.subscribe(after, (e) => {
      write(sseMessage(e));
      // Its own session's end comes through the feed too: check at once rather than at the next tick.
      if (e.type === 'session.ended' && e.session_prefix === prefix) void check();
    });
    const heartbeat = setInterval(() => write(sseComment('heartbeat')), config.eventsHeartbeat * 1000);
    const checker = setInterval(() => void check(), config.eventsSessionCheck * 1000);
    const cleanup = () => {
      unsubscribe();
      clearInterval(heartbeat);
      clearInterval(checker);
      open.delete(end);
    };
    open.add(end);
    res.on('close', () => {
      closed = true;
      cleanup();
    });
    write(sseRetry(2000) + sseComment('streaming'));
  }

  return {
    route,
    closeAll() {
      for (const end of [...open]) end('shutdown');
    },
  };
}
