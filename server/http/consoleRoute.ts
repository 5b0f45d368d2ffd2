// The operator console at /console/: its static files, and a small API its script calls. The API is a
// transport like /jsonrpc: it turns a browser request into a JSON-RPC call and hands it to answerRpc, so
// the call goes transport -> registry -> decorators -> handler and is logged and audited as any other.
// The differences are who holds what: the call's bearer is the console's built-in client, signed on the
// server (consoleClient.ts), and its session id comes from the HttpOnly cookie, never from the script.
// Methods that answer a session id (users.login, sessions.reauthenticate) have routes of their own that
// put it in the cookie; the generic /console/api/rpc refuses them, so no session id reaches the page.
import type Koa from 'koa';
import type { JSONRPCResponse } from 'json-rpc-2.0';
import type { TObject } from '@sinclair/typebox';
import { parse as parseJson } from '@hapi/bourne';
import { RpcError, renderError, type ErrorCode } from '../errors.ts';
import type { Registry } from '../rpc/registry.ts';
import type { Services } from '../services.ts';
import type { Route } from './app.ts';
import { answerRpc, type Envelope } from './rpcRoute.ts';
import { peerOf, trustedProxies, type TrustCheck } from './peer.ts';
import { cookieOf } from './cookie.ts';
import { elapsedSince } from './elapsed.ts';
import { consoleBearer } from '../console/consoleClient.ts';
import { consoleAssets } from '../console/assets.ts';
import { COOKIE_NAME, crossSiteReason, isHttps, sessionCookie, setSecurityHeaders } from '../console/guard.ts';

export const CONSOLE_PREFIX = '/console';
const API = '/console/api/';

/** Extra routes under /console/api/ (the live feed adds GET /console/api/events). */
export type ConsoleApiRoute = (ctx: Koa.Context, call: ConsoleCall) => Promise<boolean>;

/** What an API route may do: run a registry method as the console, on the cookie's session. */
export interface ConsoleCall {
  services: Services;
  registry: Registry;
  /** The envelope a console call goes out with: the console's bearer, the cookie's session id. */
  envelope(sessionId?: string | null): Envelope;
  sessionId(): string | undefined;
}

const MAX_BODY = 64 * 1024;

/** The JSON body of a console API request (the guard has checked its type), at most MAX_BODY bytes. */
async function bodyOf(ctx: Koa.Context): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk);
  }
  try {
    const value = parseJson(Buffer.concat(chunks).toString('utf8'), { protoAction: 'error' }) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function answerError(ctx: Koa.Context, services: Services, code: ErrorCode, detail: string, httpStatus?: number): void {
  const error = renderError(new RpcError(code, detail), { requestId: ctx.state.requestId, instance: ctx.path, problemBaseUrl: services.config.problemBaseUrl });
  ctx.status = httpStatus ?? error.status;
  ctx.body = { jsonrpc: '2.0', id: null, error };
}

/** A refusal before any call: one log line and one audit row, as app.ts refuses. */
function refuse(ctx: Koa.Context, services: Services, code: ErrorCode, detail: string, reason: string): void {
  answerError(ctx, services, code, detail);
  const durationMs = elapsedSince(ctx.state.started as bigint).ms;
  services.log.warn({ request_id: ctx.state.requestId, path: ctx.path, status: ctx.status, error_code: code, reason }, '[CONSOLE] request refused');
  services.audit.record({
    request_id: ctx.state.requestId,
    client_request_id: ctx.state.clientRequestId,
    method: `${ctx.method} ${ctx.path.slice(0, 200)}`,
    status: ctx.status,
    error_code: code,
    reason,
    duration_ms: durationMs,
    ip: ctx.socket.remoteAddress,
    user_agent: ctx.get('user-agent'),
  });
}

function single(answer: { body: JSONRPCResponse | JSONRPCResponse[] | null }): JSONRPCResponse {
  return answer.body as JSONRPCResponse;
}

const errorOf = (response: JSONRPCResponse) => ('error' in response && response.error ? response.error : undefined);

/** The result without its session_id: the id goes into the cookie, never to the page. */
function withoutSessionId(response: JSONRPCResponse): { sessionId?: string; response: JSONRPCResponse } {
  if (errorOf(response) || !('result' in response)) return { response };
  const { session_id: sessionId, ...rest } = response.result as { session_id?: string };
  return { sessionId, response: { jsonrpc: '2.0', id: response.id, result: rest } as JSONRPCResponse };
}

export function consoleRoute(registry: Registry, apiRoutes: ConsoleApiRoute[] = []): Route {
  let trusted: TrustCheck | undefined;
  // Methods whose answer carries a session id: only through the routes that keep it in the cookie.
  const answersSessionId = new Set([...registry.methods.values()].filter((m) => Boolean((m.result as TObject).properties?.session_id)).map((m) => m.name));

  return async (ctx, services) => {
    if (ctx.path !== CONSOLE_PREFIX && !ctx.path.startsWith(`${CONSOLE_PREFIX}/`)) return false;
    // CONSOLE=off: not mounted at all; the paths answer as any unknown path (404).
    if (!services.config.console) return false;
    const proxies = (trusted ??= trustedProxies(services.config.trustedProxies));
    setSecurityHeaders(ctx);

    const call: ConsoleCall = {
      services,
      registry,
      sessionId: () => cookieOf(ctx.get('cookie'), COOKIE_NAME),
      envelope(sessionId = call.sessionId()) {
        const headers: Record<string, string | undefined> = { ...(ctx.headers as Record<string, string | undefined>) };
        // The browser's own credentials never pass: the bearer is the console's, the session the cookie's.
        delete headers.cookie;
        delete headers['x-openerp-session-id'];
        headers.authorization = consoleBearer(services);
        if (sessionId) headers['x-openerp-session-id'] = sessionId;
        return {
          transport: 'console',
          requestId: ctx.state.requestId,
          clientRequestId: ctx.state.clientRequestId,
          instance: ctx.path,
          peer: peerOf(ctx.socket.remoteAddress, ctx.headers as Record<string, string | undefined>, proxies),
          headers,
          cookie: () => undefined,
        };
      },
    };
    const run = async (method: string, params: Record<string, unknown>, sessionId?: string | null) => {
      const answer = await answerRpc({ ok: true, value: { jsonrpc: '2.0', id: 1, method, params } }, call.envelope(sessionId), registry, services);
      return { response: single(answer), headers: answer.headers };
    };

    if (!ctx.path.startsWith(API)) {
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
        ctx.set('Allow', 'GET, HEAD');
        answerError(ctx, services, 'METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path.slice(0, 200)}`);
        return true;
      }
      if (ctx.path === CONSOLE_PREFIX) {
        ctx.redirect(`${CONSOLE_PREFIX}/`);
        return true;
      }
      const name = ctx.path === `${CONSOLE_PREFIX}/` ? 'index.html' : ctx.path.slice(CONSOLE_PREFIX.length + 1);
      const asset = (await consoleAssets()).get(name);
      if (!asset) {
        answerError(ctx, services, 'PATH_NOT_FOUND', `No console file ${ctx.path.slice(0, 200)}`);
        return true;
      }
      ctx.set('Cache-Control', 'no-cache');
      ctx.type = asset.type;
      ctx.body = asset.body;
      return true;
    }

    // The API: answers carry users and sessions, so no cache keeps them.
    ctx.set('Cache-Control', 'no-store');
    for (const route of apiRoutes) if (await route(ctx, call)) return true;
    if (ctx.method !== 'POST') {
      ctx.set('Allow', 'POST');
      answerError(ctx, services, 'METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path.slice(0, 200)}`);
      return true;
    }
    const crossSite = crossSiteReason(ctx, proxies);
    if (crossSite) {
      refuse(ctx, services, 'FORBIDDEN', `Console requests come from the console's own page only (${crossSite}).`, 'cross-site');
      return true;
    }
    const body = await bodyOf(ctx);
    if (!body) {
      answerError(ctx, services, 'INVALID_REQUEST', `The body must be a JSON object of at most ${MAX_BODY} bytes`, 400);
      return true;
    }
    const secure = isHttps(ctx, proxies);
    const reply = (response: JSONRPCResponse, headers: Record<string, string> = {}) => {
      ctx.set(headers);
      ctx.status = 200;
      ctx.body = response;
    };

    switch (ctx.path) {
      case `${API}login`: {
        const params = { ...(body.login !== undefined ? { login: body.login } : {}), ...(body.password !== undefined ? { password: body.password } : {}) };
        // A session id the browser still holds is ignored, as users.login ignores one (no fixation).
        const { response, headers } = await run('users.login', params, null);
        const { sessionId, response: shown } = withoutSessionId(response);
        if (!sessionId) {
          reply(shown, headers);
          return true;
        }
        const user = (shown as { result: { user: { is_admin: boolean } } }).result.user;
        if (!user.is_admin) {
          // The console is for administrators: the session just opened is ended at once.
          await run('users.logout', {}, sessionId);
          ctx.set('Set-Cookie', sessionCookie(undefined, secure));
          answerError(ctx, services, 'FORBIDDEN', 'The console is for administrators: this user is not an admin.', 200);
          return true;
        }
        ctx.set('Set-Cookie', sessionCookie(sessionId, secure));
        reply(shown);
        return true;
      }
      case `${API}reauth`: {
        const { response, headers } = await run('sessions.reauthenticate', body.password !== undefined ? { password: body.password } : {});
        const { sessionId, response: shown } = withoutSessionId(response);
        if (sessionId) ctx.set('Set-Cookie', sessionCookie(sessionId, secure));
        reply(shown, headers);
        return true;
      }
      case `${API}logout`: {
        const { response } = call.sessionId() ? await run('users.logout', {}) : { response: { jsonrpc: '2.0', id: 1, result: { logged_out: false } } as JSONRPCResponse };
        ctx.set('Set-Cookie', sessionCookie(undefined, secure));
        reply(response);
        return true;
      }
      case `${API}rpc`: {
        const { method, params } = body;
        if (typeof method !== 'string') {
          answerError(ctx, services, 'INVALID_REQUEST', 'method must be a string', 400);
          return true;
        }
        if (answersSessionId.has(method)) {
          answerError(ctx, services, 'FORBIDDEN', `${method} answers a session id: the console signs in and re-authenticates through /console/api/login and /console/api/reauth`, 200);
          return true;
        }
        if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) {
          answerError(ctx, services, 'INVALID_PARAMS', 'params must be an object', 200);
          return true;
        }
        if (params && Object.hasOwn(params, 'session_id')) {
          answerError(ctx, services, 'INVALID_PARAMS', "session_id: the console's session is its cookie", 200);
          return true;
        }
        const { response, headers } = await run(method, (params ?? {}) as Record<string, unknown>);
        reply(response, headers);
        return true;
      }
      default:
        answerError(ctx, services, 'PATH_NOT_FOUND', `No console API ${ctx.path.slice(0, 200)}`);
        return true;
    }
  };
}
