// GET /console/api/events: the live feed of session events for the console's pages. EventSource sends
// no Authorization header, so this adapter turns the console's request into the one GET
// /api/v1/admin/events (server/http/eventsRoute.ts) takes, as any console call is turned into a
// JSON-RPC call: the console's built-in client's bearer, and the cookie's session id in
// X-Openerp-Session-Id. That route then does everything (the admin checks, Last-Event-ID, the stream,
// its end when the session ends, the audit row), so the console's feed is the integrations' feed.
import type { Route } from '../http/app.ts';
import type { ConsoleApiRoute } from '../http/consoleRoute.ts';
import { EVENTS_PATH } from '../http/eventsRoute.ts';
import { consoleBearer } from './consoleClient.ts';
import { RpcError, renderError } from '../errors.ts';

const PATH = '/console/api/events';

export function consoleEvents(events: Route): ConsoleApiRoute {
  return async (ctx, call) => {
    if (ctx.path !== PATH || ctx.method !== 'GET') return false;
    // Same-origin only (EventSource from the console's page); the cookie is SameSite=Strict besides.
    const site = ctx.get('sec-fetch-site');
    if (site && site !== 'same-origin') {
      const error = renderError(new RpcError('FORBIDDEN', `Console requests come from the console's own page only (Sec-Fetch-Site is ${site.slice(0, 40)}).`), {
        requestId: ctx.state.requestId,
        instance: ctx.path,
        problemBaseUrl: call.services.config.problemBaseUrl,
      });
      ctx.status = error.status;
      ctx.body = { jsonrpc: '2.0', id: null, error };
      return true;
    }
    const sessionId = call.sessionId();
    const headers: Record<string, string | string[] | undefined> = { ...ctx.headers };
    delete headers.cookie;
    delete headers['x-openerp-session-id'];
    headers.authorization = consoleBearer(call.services);
    if (sessionId) headers['x-openerp-session-id'] = sessionId;
    ctx.request.headers = headers as typeof ctx.request.headers;
    ctx.path = EVENTS_PATH;
    return events(ctx, call.services);
  };
}
