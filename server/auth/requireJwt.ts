// requireJwt: the application's bearer token. Each failure is one catalogue error and one log line.
import { CATALOGUE, RpcError } from '../errors.ts';
import type { CallContext } from '../rpc/context.ts';
import type { Handler } from '../rpc/method.ts';
import { verifyAccessToken } from './accessTokens.ts';

export interface ClientIdentity {
  id: string;
  scopes: string[];
  jti: string;
}

export interface JwtContext extends CallContext {
  client: ClientIdentity;
}

const BEARER = /^Bearer ([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*)$/;

function refuse(ctx: CallContext, code: 'AUTH_HEADER_REQUIRED' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'TOKEN_REVOKED', detail: string, marker: string): never {
  ctx.services.log.warn({ request_id: ctx.requestId, method: ctx.record.method, client_id: ctx.record.clientId, error_code: code, error: CATALOGUE[code].message }, marker);
  throw new RpcError(code, detail);
}

export async function clientOf(ctx: CallContext): Promise<ClientIdentity> {
  const header = ctx.headers.authorization;
  if (!header) refuse(ctx, 'AUTH_HEADER_REQUIRED', 'Send Authorization: Bearer <access_token> (from POST /api/v1/auth/token).', '[AUTH] no bearer token');
  const match = BEARER.exec(header.trim());
  if (!match) refuse(ctx, 'TOKEN_INVALID', 'The Authorization header must be "Bearer <access_token>".', '[AUTH] malformed Authorization header');
  const verdict = verifyAccessToken(ctx.services.keys.access, match[1]);
  if (!verdict.ok) {
    if (verdict.reason === 'expired') refuse(ctx, 'TOKEN_EXPIRED', 'The access token has expired: request a new one from POST /api/v1/auth/token.', '[AUTH] bearer token expired');
    refuse(ctx, 'TOKEN_INVALID', 'The access token is not one this service issued, or it was altered.', '[AUTH] bearer token invalid');
  }
  const { clientId, jti, scopes } = verdict.claims;
  ctx.record.clientId = clientId;
  let status;
  try {
    status = await ctx.services.clients.tokenStatus(clientId, jti);
  } catch (err) {
    ctx.services.log.error({ err: (err as Error).message, request_id: ctx.requestId }, 'token status unavailable');
    throw new RpcError('STORAGE_UNAVAILABLE', 'The token store could not answer; retry shortly.');
  }
  if (status.revoked || !status.active) {
    refuse(ctx, 'TOKEN_REVOKED', status.revoked ? 'This access token was revoked: request a new one.' : 'This OAuth client is disabled.', '[AUTH] bearer token revoked');
  }
  return { id: clientId, scopes, jti };
}

export const requireJwt =
  <P, R>(inner: Handler<P, R, JwtContext>): Handler<P, R, CallContext> =>
  async (params, ctx) =>
    inner(params, { ...ctx, client: await clientOf(ctx) });
