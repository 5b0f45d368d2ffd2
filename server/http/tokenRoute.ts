// OAuth 2.0 client credentials (RFC 6749 section 4.4) at POST /api/v1/auth/token, and token
// revocation (RFC 7009) at POST /api/v1/auth/revoke. OAuth's own error shape, not JSON-RPC:
// OAuth client libraries read `error` and `error_description`.
import type Koa from 'koa';
import bodyParser from 'koa-bodyparser';
import type { Services } from '../services.ts';
import { signAccessToken, verifyAccessToken } from '../auth/accessTokens.ts';
import type { ClientRow } from '../stores/clientStore.ts';
import { elapsedSince } from './elapsed.ts';

const parseBody = bodyParser({ enableTypes: ['json', 'form'], jsonLimit: '16kb', formLimit: '16kb', onerror: (err, ctx) => (ctx.state.bodyError = err) });

type OAuthError = 'invalid_request' | 'invalid_client' | 'unsupported_grant_type' | 'invalid_scope';

function oauthError(ctx: Koa.Context, services: Services, status: number, error: OAuthError, description: string): true {
  ctx.status = status;
  if (error === 'invalid_client') ctx.set('WWW-Authenticate', 'Basic realm="tether"');
  ctx.body = { error, error_description: description };
  services.log.info({ request_id: ctx.state.requestId, client_request_id: ctx.state.clientRequestId, path: ctx.path, status, error }, '[OAUTH] token request refused');
  return true;
}

/** client_id and client_secret from HTTP Basic (RFC 6749 2.3.1) or the body. */
function credentialsOf(ctx: Koa.Context, body: Record<string, unknown>): { id?: string; secret?: string } {
  // The scheme name is case-insensitive (RFC 7235 section 2.1).
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(ctx.get('authorization'));
  if (basic) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      // Form-encoded per RFC 6749 2.3.1; a malformed escape is bad credentials, not a server failure.
      try {
        return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
      } catch {
        return {};
      }
    }
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return { id: str(body.client_id), secret: str(body.client_secret) };
}

async function authenticated(ctx: Koa.Context, services: Services, body: Record<string, unknown>): Promise<ClientRow | undefined> {
  const { id, secret } = credentialsOf(ctx, body);
  // U+0000 cannot be in a stored client id (PostgreSQL text refuses it): a wrong client, not a storage failure.
  if (id?.includes('\u0000') || secret?.includes('\u0000')) {
    oauthError(ctx, services, 401, 'invalid_client', 'Unknown client, wrong secret, or client disabled');
    return undefined;
  }
  if (!id || !secret) {
    oauthError(ctx, services, 401, 'invalid_client', 'client_id and client_secret are required (body or HTTP Basic)');
    return undefined;
  }
  const client = await services.clients.authenticate(id, secret);
  if (!client || !client.is_active) {
    oauthError(ctx, services, 401, 'invalid_client', 'Unknown client, wrong secret, or client disabled');
    return undefined;
  }
  ctx.state.clientId = client.id;
  return client;
}

async function issue(ctx: Koa.Context, services: Services, body: Record<string, unknown>): Promise<true> {
  if (body.grant_type !== 'client_credentials') {
    const given = typeof body.grant_type === 'string' ? body.grant_type : '(none)';
    return oauthError(ctx, services, 400, body.grant_type === undefined ? 'invalid_request' : 'unsupported_grant_type', `grant_type must be client_credentials (got ${given.slice(0, 40)})`);
  }
  const client = await authenticated(ctx, services, body);
  if (!client) return true;
  const requested = typeof body.scope === 'string' ? body.scope.split(' ').filter(Boolean) : client.scopes;
  const refused = requested.filter((s) => !client.scopes.includes(s));
  if (refused.length) return oauthError(ctx, services, 400, 'invalid_scope', `This client may not request: ${refused.join(' ').slice(0, 200)}`);

  const ttl = services.config.accessTokenTtl;
  const { token } = signAccessToken(services.keys.access, client.id, requested, ttl);
  ctx.body = { access_token: token, token_type: 'Bearer', expires_in: ttl, scope: requested.join(' ') };
  services.log.info({ request_id: ctx.state.requestId, client_request_id: ctx.state.clientRequestId, client_id: client.id }, '[OAUTH] access token issued');
  return true;
}

async function revoke(ctx: Koa.Context, services: Services, body: Record<string, unknown>): Promise<true> {
  const client = await authenticated(ctx, services, body);
  if (!client) return true;
  if (typeof body.token !== 'string') return oauthError(ctx, services, 400, 'invalid_request', 'token is required');
  const verdict = verifyAccessToken(services.keys.access, body.token);
  // RFC 7009: an unknown or foreign token is not an error, nothing happens.
  if (verdict.ok && verdict.claims.clientId === client.id) {
    await services.clients.revokeToken(verdict.claims.jti, client.id, new Date(verdict.claims.exp * 1000));
    services.log.info({ request_id: ctx.state.requestId, client_request_id: ctx.state.clientRequestId, client_id: client.id }, '[OAUTH] access token revoked');
  }
  ctx.status = 200;
  ctx.body = { revoked: true };
  return true;
}

export async function tokenRoute(ctx: Koa.Context, services: Services): Promise<boolean> {
  const action = ctx.path === '/api/v1/auth/token' ? issue : ctx.path === '/api/v1/auth/revoke' ? revoke : undefined;
  if (!action) return false;
  try {
    return await answer(ctx, services, action);
  } finally {
    // The audit row names the endpoint; error_code is OAuth's `error` (invalid_client, ...).
    const body = ctx.body as { error?: string } | undefined;
    services.audit.record({
      request_id: ctx.state.requestId,
      client_request_id: ctx.state.clientRequestId,
      method: action === issue ? 'auth.token' : 'auth.revoke',
      status: ctx.status,
      error_code: body?.error,
      duration_ms: elapsedSince(ctx.state.started as bigint).ms,
      client_id: ctx.state.clientId as string | undefined,
      ip: ctx.socket.remoteAddress,
      user_agent: ctx.get('user-agent'),
    });
  }
}

async function answer(ctx: Koa.Context, services: Services, action: typeof issue): Promise<true> {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  if (ctx.method !== 'POST') {
    ctx.set('Allow', 'POST');
    return oauthError(ctx, services, 405, 'invalid_request', 'Use POST');
  }
  await parseBody(ctx, async () => {});
  const body = ctx.request.body;
  if (ctx.state.bodyError || typeof body !== 'object' || body === null || Array.isArray(body)) {
    return oauthError(ctx, services, 400, 'invalid_request', 'Send a form (application/x-www-form-urlencoded) or JSON object body');
  }
  try {
    return await action(ctx, services, body as Record<string, unknown>);
  } catch (err) {
    services.log.error({ err: (err as Error).message, request_id: ctx.state.requestId, client_request_id: ctx.state.clientRequestId }, '[OAUTH] storage unavailable');
    ctx.status = 503;
    ctx.body = { error: 'temporarily_unavailable', error_description: 'Session storage unavailable' };
    return true;
  }
}
