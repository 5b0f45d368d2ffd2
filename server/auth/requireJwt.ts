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

// The scheme name is case-insensitive (RFC 7235 section 2.1): "bearer <token>" is the same header.
const BEARER = /^Bearer ([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*)$/i;

type TokenStatus = Awaited<ReturnType<CallContext['services']['clients']['tokenStatus']>>;
type Seen = TokenStatus & { at: number };

// The last token status PostgreSQL gave this process, per token, used for one case only: PostgreSQL
// cannot answer. While it answers, its answer is always the one used, so a revocation or a disabled
// client (done on any instance) is refused on the very next call everywhere: there is deliberately
// no TTL cache in front of it. When a lookup fails, a token this process saw checked within the last
// LAST_KNOWN_MS keeps its last status (a revoked or disabled one stays refused), so calls on sessions
// the cache still holds keep working through a PostgreSQL outage instead of all answering 503; a
// token not seen within that window gets 503 as before. For RETRY_MS after a failed lookup, such
// tokens skip PostgreSQL altogether (a call per RETRY_MS probes again), so an outage does not make
// every call wait for a connection attempt. Nobody can revoke while PostgreSQL is down (revoking is a
// PostgreSQL write), so the staleness is limited to a revocation committed on another instance after
// this one's last successful check and before the outage, or within RETRY_MS of its end; the token's
// signature and exp are still verified on every call. Per process and client store (a WeakMap),
// at most LAST_KNOWN_MAX tokens, the least recently checked dropped first.
const LAST_KNOWN_MS = 5 * 60_000;
const LAST_KNOWN_MAX = 10_000;
const RETRY_MS = 1000;
const lastKnown = new WeakMap<object, { seen: Map<string, Seen>; failedAt: number }>();

function lastKnownOf(store: object): { seen: Map<string, Seen>; failedAt: number } {
  let memory = lastKnown.get(store);
  if (!memory) lastKnown.set(store, (memory = { seen: new Map(), failedAt: 0 }));
  return memory;
}

function remember(seen: Map<string, Seen>, key: string, status: TokenStatus): void {
  seen.delete(key); // re-inserted last: Map order is then least recently checked first
  seen.set(key, { active: status.active, revoked: status.revoked, at: Date.now() });
  if (seen.size > LAST_KNOWN_MAX) seen.delete(seen.keys().next().value as string);
}

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
  const memory = lastKnownOf(ctx.services.clients);
  const key = `${clientId} ${jti}`;
  const known = memory.seen.get(key);
  const usable = known !== undefined && Date.now() - known.at <= LAST_KNOWN_MS;
  let status: TokenStatus;
  if (usable && Date.now() - memory.failedAt < RETRY_MS) {
    status = known; // PostgreSQL failed under RETRY_MS ago: do not queue behind it
  } else {
    try {
      status = await ctx.services.clients.tokenStatus(clientId, jti);
      remember(memory.seen, key, status);
      if (memory.failedAt) ctx.services.log.info('token status: PostgreSQL answers again');
      memory.failedAt = 0;
    } catch (err) {
      if (!memory.failedAt) ctx.services.log.warn({ err: (err as Error).message }, 'token status unavailable: using the last status PostgreSQL gave for recently checked tokens');
      memory.failedAt = Date.now();
      if (!usable) {
        ctx.services.log.error({ err: (err as Error).message, request_id: ctx.requestId }, 'token status unavailable');
        throw new RpcError('STORAGE_UNAVAILABLE', 'The token store could not answer; retry shortly.');
      }
      status = known;
    }
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
