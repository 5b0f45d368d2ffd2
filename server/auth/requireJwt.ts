// requireJwt: the application's bearer token. Each failure is one catalogue error and one log line.
import { CATALOGUE, RpcError } from '../errors.ts';
import type { CallContext } from '../rpc/context.ts';
import type { Handler } from '../rpc/method.ts';
import { verifyAccessToken } from './accessTokens.ts';
import { isLive, type Lookup } from '../cache/cache.ts';
import { clientKey, CORRUPT, decodeClient, decodeToken, decodeVersion, tokenKey, USER_PREFIX, VERSION_KEYS, type VersionedTable } from '../cache/stateCache.ts';
import { cacheKeyOf, hashOf, isWellFormed } from '../sessions/sessionId.ts';
import { parseEntry, type Prefetched } from '../sessions/sessionService.ts';
import { sessionIdOf } from './requireSession.ts';

export interface ClientIdentity {
  id: string;
  scopes: string[];
  jti: string;
}

export interface JwtContext extends CallContext {
  client: ClientIdentity;
  /** The session the bearer check's cache round trip already read (by the hash of the call's session_id). */
  prefetched?: Prefetched & { hash: string };
  /**
   * The versions the method `reads` (method.ts), as the same round trip read them: a table is absent
   * when the cache could not be trusted or had no usable version (then the handler asks PostgreSQL).
   */
  versions?: Versions;
}

export type Versions = Partial<Record<VersionedTable, string>>;
const NO_VERSIONS: Versions = Object.freeze({});

// The scheme name is case-insensitive (RFC 7235 section 2.1): "bearer <token>" is the same header.
const BEARER = /^Bearer ([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*)$/i;

type TokenStatus = Awaited<ReturnType<CallContext['services']['clients']['tokenStatus']>>;
type Seen = TokenStatus & { at: number };

// A validated call reads the token's and the client's state from the cache, in the same round trip as
// the session (cache.lookup), so no PostgreSQL is asked while the cache has them: every change writes
// the cache after committing (stateCache.ts), so a revocation or a lost scope is refused at the next
// call on every instance sharing the cache. When the cache misses or cannot answer, PostgreSQL answers
// (and fills the cache). When PostgreSQL cannot answer either, a token this process saw checked within
// the last LAST_KNOWN_MS keeps its last status (a revoked or disabled one stays refused), so calls on
// sessions the cache still holds keep working through an outage instead of all answering 503; a token
// not seen within that window gets 503. For RETRY_MS after a failed lookup, such tokens skip
// PostgreSQL altogether (a call per RETRY_MS probes again). Per process and client store (a WeakMap),
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
  seen.set(key, { ...status, at: Date.now() });
  if (seen.size > LAST_KNOWN_MAX) seen.delete(seen.keys().next().value as string);
}

/** PostgreSQL's answer for a token the cache did not have, with the outage fallback above. */
async function statusFromDatabase(ctx: CallContext, clientId: string, jti: string): Promise<TokenStatus> {
  const memory = lastKnownOf(ctx.services.clients);
  const key = `${clientId} ${jti}`;
  const known = memory.seen.get(key);
  const usable = known !== undefined && Date.now() - known.at <= LAST_KNOWN_MS;
  if (usable && Date.now() - memory.failedAt < RETRY_MS) return known; // PostgreSQL failed under RETRY_MS ago
  try {
    const status = await ctx.services.clients.tokenStatus(clientId, jti);
    remember(memory.seen, key, status);
    if (memory.failedAt) ctx.services.log.info('token status: PostgreSQL answers again');
    memory.failedAt = 0;
    return status;
  } catch (err) {
    if (!memory.failedAt) ctx.services.log.warn({ err: (err as Error).message }, 'token status unavailable: using the last status PostgreSQL gave for recently checked tokens');
    memory.failedAt = Date.now();
    if (!usable) {
      ctx.services.log.error({ err: (err as Error).message, request_id: ctx.requestId }, 'token status unavailable');
      throw new RpcError('STORAGE_UNAVAILABLE', 'The token store could not answer; retry shortly.');
    }
    return known;
  }
}

function refuse(ctx: CallContext, code: 'AUTH_HEADER_REQUIRED' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'TOKEN_REVOKED', detail: string, marker: string): never {
  ctx.services.log.warn({ request_id: ctx.requestId, method: ctx.record.method, client_id: ctx.record.clientId, error_code: code, error: CATALOGUE[code].message }, marker);
  throw new RpcError(code, detail);
}

/**
 * The bearer, checked: header, signature and expiry, then the token's and client's live state. When the
 * method also needs a session, the same cache round trip reads it (`sessionHash`), handed on as
 * `prefetched` so requireSession asks nothing more.
 */
export async function clientOf(ctx: CallContext, sessionHash?: string, reads: readonly VersionedTable[] = []): Promise<{ client: ClientIdentity; prefetched?: Prefetched & { hash: string }; versions: Versions }> {
  const header = ctx.headers.authorization;
  if (!header) refuse(ctx, 'AUTH_HEADER_REQUIRED', 'Send Authorization: Bearer <access_token> (from POST /api/v1/auth/token).', '[AUTH] no bearer token');
  const match = BEARER.exec(header.trim());
  if (!match) refuse(ctx, 'TOKEN_INVALID', 'The Authorization header must be "Bearer <access_token>".', '[AUTH] malformed Authorization header');
  const verdict = verifyAccessToken(ctx.services.keys.access, match[1]);
  if (!verdict.ok) {
    if (verdict.reason === 'expired') refuse(ctx, 'TOKEN_EXPIRED', 'The access token has expired: request a new one from POST /api/v1/auth/token.', '[AUTH] bearer token expired');
    refuse(ctx, 'TOKEN_INVALID', 'The access token is not one this service issued, or it was altered.', '[AUTH] bearer token invalid');
  }
  const { clientId, jti, scopes, exp } = verdict.claims;
  ctx.record.clientId = clientId;
  const { cache, state, sessions } = ctx.services;

  // undefined: the cache is unreachable, or behind the change log and not caught up: PostgreSQL answers.
  let looked: Lookup | undefined;
  try {
    const keys = [clientKey(clientId), tokenKey(jti)];
    for (const table of reads) keys.push(VERSION_KEYS[table]);
    looked = await ctx.services.changes.lookup(sessionHash && cacheKeyOf(sessionHash), sessions.idleTimeout, USER_PREFIX, keys);
  } catch (err) {
    ctx.services.log.debug({ err: (err as Error).message }, 'cache unavailable: token status from PostgreSQL');
  }
  // The session's key: on a Redis Cluster, the state filled below goes to its slot group's copy (the one the lookup read).
  const near = sessionHash ? cacheKeyOf(sessionHash) : undefined;
  const prefetched = sessionHash ? { hash: sessionHash, usable: looked !== undefined, session: looked?.session ?? null, user: looked?.user ?? null } : undefined;
  try {
    const rawClient = looked?.values[0] ?? null;
    const rawToken = looked?.values[1] ?? null;
    let client = decodeClient(rawClient);
    let token = decodeToken(rawToken);
    if (!client || client === CORRUPT || !token || token === CORRUPT) {
      const status = await statusFromDatabase(ctx, clientId, jti);
      const fresh = { active: status.active, scopes: status.scopes };
      const freshToken = status.revoked ? 'revoked' : 'ok';
      if (looked) {
        await Promise.all([
          client === CORRUPT ? state.mendClient(clientId, rawClient as string, fresh, near) : client ? undefined : state.fillClient(clientId, fresh, near),
          token === CORRUPT ? state.mendToken(jti, rawToken as string, freshToken, exp, near) : token ? undefined : state.fillToken(jti, freshToken, exp, near),
        ]);
      }
      client = fresh;
      token = freshToken;
    }
    if (token === 'revoked' || !client.active) {
      refuse(ctx, 'TOKEN_REVOKED', token === 'revoked' ? 'This access token was revoked: request a new one.' : 'This OAuth client is disabled.', '[AUTH] bearer token revoked');
    }
    // A scope removed from the client is refused at once; one added comes with the client's next token.
    const live = scopes.filter((s) => client.scopes.includes(s));
    return { client: { id: clientId, scopes: live, jti }, prefetched, versions: reads.length && looked ? await versionsOf(ctx, looked, reads, near) : NO_VERSIONS };
  } catch (err) {
    undoSlide(ctx, prefetched);
    throw err;
  }
}

/**
 * The versions a lookup read (after the client's and the token's keys). One that is missing or holds
 * garbage is not used by this call (its handler asks PostgreSQL) and is filled, or mended, with the
 * cache's position read in the same lookup (stateCache.ts fillVersion says why that is safe).
 */
async function versionsOf(ctx: CallContext, looked: Lookup, reads: readonly VersionedTable[], near: string | undefined): Promise<Versions> {
  const versions: Versions = {};
  for (let i = 0; i < reads.length; i++) {
    const raw = looked.values[2 + i] ?? null;
    const version = decodeVersion(raw);
    if (typeof version === 'string') versions[reads[i]] = version;
    else if (looked.position >= 0) {
      const key = VERSION_KEYS[reads[i]];
      await (version === CORRUPT ? ctx.services.state.mendVersion(key, raw as string, looked.position, near) : ctx.services.state.fillVersion(key, looked.position, near));
    }
  }
  return versions;
}

/**
 * The lookup slid the session's idle TTL before any check ran: a call refused before its handler
 * (bearer, client, scope, session checks, role, step-up) must not keep the session alive, else a
 * stolen id could extend its owner's session with calls that are all refused.
 */
function undoSlide(ctx: CallContext, prefetched: (Prefetched & { hash: string }) | undefined): void {
  if (!prefetched?.usable || !isLive(prefetched.session)) return;
  const entry = parseEntry(prefetched.session as string);
  if (entry) ctx.services.sessions.unslide(prefetched.hash, entry);
}

export const requireJwt =
  <P, R>(inner: Handler<P, R, JwtContext>, options: { session?: boolean; reads?: readonly VersionedTable[] } = {}): Handler<P, R, CallContext> =>
  async (params, ctx) => {
    let sessionHash: string | undefined;
    if (options.session) {
      const given = sessionIdOf(ctx)?.value;
      if (isWellFormed(given)) sessionHash = hashOf(given);
    }
    const { client, prefetched, versions } = await clientOf(ctx, sessionHash, options.reads);
    // The call's one context grows as it is checked (a copy per decorator cost a visible share of a call).
    if (!prefetched) return inner(params, Object.assign(ctx, { client, prefetched, versions }));
    try {
      return await inner(params, Object.assign(ctx, { client, prefetched, versions }));
    } catch (err) {
      if (!ctx.reachedHandler) undoSlide(ctx, prefetched);
      throw err;
    }
  };
