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

/**
 * RFC 6749 5.2: a missing, repeated or malformed parameter is 400 invalid_request; a failed client
 * authentication is 401 invalid_client, with WWW-Authenticate naming the scheme the client tried
 * (`challenge`: Basic, or Bearer for a token revoking itself), and none when it authenticated in the body.
 */
function oauthError(ctx: Koa.Context, services: Services, status: number, error: OAuthError, description: string, challenge?: string): true {
  ctx.status = status;
  if (challenge) ctx.set('WWW-Authenticate', challenge);
  ctx.body = { error, error_description: description };
  services.log.info({ request_id: ctx.state.requestId, client_request_id: ctx.state.clientRequestId, path: ctx.path, status, error }, '[OAUTH] token request refused');
  return true;
}

const BASIC_CHALLENGE = 'Basic realm="tether"';

/** The endpoints' parameters: each a string given at most once (a form repeats a name as an array). */
const PARAMETERS = ['grant_type', 'client_id', 'client_secret', 'scope', 'token', 'token_type_hint'] as const;
type Parameter = (typeof PARAMETERS)[number];
type Parameters = Partial<Record<Parameter, string>>;

/** The parameters, or the invalid_request description when one is repeated or not a string. */
function parametersOf(body: Record<string, unknown>): Parameters | string {
  const params: Parameters = {};
  for (const name of PARAMETERS) {
    const value = body[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) return `${name} is repeated: send each parameter once`;
    if (typeof value !== 'string') return `${name} must be a string`;
    params[name] = value;
  }
  return params;
}

type Credentials = { how: 'basic' | 'body'; id: string; secret: string } | { how: 'basic-malformed' } | { how: 'none' } | { how: 'incomplete' };

/** client_id and client_secret from HTTP Basic (RFC 6749 2.3.1) or the body. */
function credentialsOf(ctx: Koa.Context, params: Parameters): Credentials {
  // The scheme name is case-insensitive (RFC 7235 section 2.1).
  const authorization = ctx.get('authorization');
  if (/^Basic(?: |$)/i.test(authorization)) {
    const basic = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(authorization);
    if (!basic) return { how: 'basic-malformed' };
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return { how: 'basic-malformed' };
    // Form-encoded per RFC 6749 2.3.1; a malformed escape is bad credentials, not a server failure.
    try {
      return { how: 'basic', id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
    } catch {
      return { how: 'basic-malformed' };
    }
  }
  if (params.client_id === undefined && params.client_secret === undefined) return { how: 'none' };
  if (!params.client_id || !params.client_secret) return { how: 'incomplete' };
  return { how: 'body', id: params.client_id, secret: params.client_secret };
}

const REFUSED_CLIENT = 'Unknown client, wrong secret, or client disabled';

async function authenticated(ctx: Koa.Context, services: Services, params: Parameters): Promise<ClientRow | undefined> {
  const credentials = credentialsOf(ctx, params);
  if (credentials.how === 'none' || credentials.how === 'incomplete') {
    oauthError(ctx, services, 400, 'invalid_request', 'client_id and client_secret are required (in the body, or by HTTP Basic)');
    return undefined;
  }
  if (credentials.how === 'basic-malformed') {
    oauthError(ctx, services, 401, 'invalid_client', REFUSED_CLIENT, BASIC_CHALLENGE);
    return undefined;
  }
  const challenge = credentials.how === 'basic' ? BASIC_CHALLENGE : undefined;
  if (credentials.how === 'basic' && (params.client_secret !== undefined || (params.client_id !== undefined && params.client_id !== credentials.id))) {
    oauthError(ctx, services, 400, 'invalid_request', 'Authenticate the client one way only: HTTP Basic or client_id and client_secret in the body');
    return undefined;
  }
  const { id, secret } = credentials;
  // U+0000 cannot be in a stored client id (PostgreSQL text refuses it): a wrong client, not a storage failure.
  const client = id.includes('\u0000') || secret.includes('\u0000') ? undefined : await services.clients.authenticate(id, secret);
  if (!client || !client.is_active) {
    oauthError(ctx, services, 401, 'invalid_client', REFUSED_CLIENT, challenge);
    return undefined;
  }
  ctx.state.clientId = client.id;
  return client;
}

async function issue(ctx: Koa.Context, services: Services, params: Parameters): Promise<true> {
  if (params.grant_type !== 'client_credentials') {
    const given = params.grant_type ?? '(none)';
    return oauthError(ctx, services, 400, params.grant_type === undefined ? 'invalid_request' : 'unsupported_grant_type', `grant_type must be client_credentials (got ${given.slice(0, 40)})`);
  }
  const client = await authenticated(ctx, services, params);
  if (!client) return true;
  const requested = params.scope !== undefined ? params.scope.split(' ').filter(Boolean) : client.scopes;
  const refused = requested.filter((s) => !client.scopes.includes(s));
  if (refused.length) return oauthError(ctx, services, 400, 'invalid_scope', `This client may not request: ${refused.join(' ').slice(0, 200)}`);

  const ttl = services.config.accessTokenTtl;
  const { token } = signAccessToken(services.keys.access, client.id, requested, ttl);
  ctx.body = { access_token: token, token_type: 'Bearer', expires_in: ttl, scope: requested.join(' ') };
  services.log.info({ request_id: ctx.state.requestId, client_request_id: ctx.state.clientRequestId, client_id: client.id }, '[OAUTH] access token issued');
  return true;
}

const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;

/**
 * RFC 7009. The client authenticates as at the token endpoint and revokes any token issued to it; or,
 * with only `Authorization: Bearer <token>` (no client credentials: how the gateway's tests and
 * Postman collection revoke), a token revokes itself (`token` omitted or the same token). Revoking an
 * unknown, foreign or already revoked token answers 200 and changes nothing.
 */
async function revoke(ctx: Koa.Context, services: Services, params: Parameters): Promise<true> {
  const bearer = BEARER.exec(ctx.get('authorization'))?.[1];
  if (bearer !== undefined && params.client_id === undefined && params.client_secret === undefined) return revokeItself(ctx, services, params, bearer);
  const client = await authenticated(ctx, services, params);
  if (!client) return true;
  if (params.token === undefined) return oauthError(ctx, services, 400, 'invalid_request', 'token is required');
  const verdict = verifyAccessToken(services.keys.access, params.token);
  // RFC 7009: an unknown or foreign token is not an error, nothing happens.
  if (verdict.ok && verdict.claims.clientId === client.id) await revoked(ctx, services, verdict.claims.jti, client.id, verdict.claims.exp, 'client');
  ctx.status = 200;
  ctx.body = { revoked: true };
  return true;
}

async function revokeItself(ctx: Koa.Context, services: Services, params: Parameters, bearer: string): Promise<true> {
  if (params.token !== undefined && params.token !== bearer) {
    return oauthError(ctx, services, 400, 'invalid_request', 'A bearer token can revoke only itself: omit token, or authenticate the client (client_id and client_secret) to revoke another');
  }
  // The signature proves possession; expiry or revocation change nothing (revoking it again is a no-op).
  const verdict = verifyAccessToken(services.keys.access, bearer);
  if (!verdict.ok && verdict.reason === 'invalid') {
    return oauthError(ctx, services, 401, 'invalid_client', 'The bearer token is not one of this service\'s tokens', 'Bearer realm="tether", error="invalid_token"');
  }
  if (verdict.ok) {
    ctx.state.clientId = verdict.claims.clientId;
    await revoked(ctx, services, verdict.claims.jti, verdict.claims.clientId, verdict.claims.exp, 'bearer');
  }
  ctx.status = 200;
  ctx.body = { revoked: true };
  return true;
}

async function revoked(ctx: Koa.Context, services: Services, jti: string, clientId: string, exp: number, by: 'client' | 'bearer'): Promise<void> {
  await services.clients.revokeToken(jti, clientId, new Date(exp * 1000));
  services.log.info({ request_id: ctx.state.requestId, client_request_id: ctx.state.clientRequestId, client_id: clientId, by }, '[OAUTH] access token revoked');
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
  const params = parametersOf(body as Record<string, unknown>);
  if (typeof params === 'string') return oauthError(ctx, services, 400, 'invalid_request', params);
  try {
    return await action(ctx, services, params);
  } catch (err) {
    services.log.error({ err: (err as Error).message, request_id: ctx.state.requestId, client_request_id: ctx.state.clientRequestId }, '[OAUTH] storage unavailable');
    ctx.status = 503;
    ctx.body = { error: 'temporarily_unavailable', error_description: 'Session storage unavailable' };
    return true;
  }
}
