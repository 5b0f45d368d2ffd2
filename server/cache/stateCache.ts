// What the cache keeps beside the sessions, so that a validated call reads everything it checks in
// its one round trip and never asks PostgreSQL: a user's state (active, admin), an OAuth client's
// (active, scopes), and an access token's (revoked or not). PostgreSQL stays the truth. A change is
// committed there first, then written here unconditionally; a reader that found nothing fills the
// gap from PostgreSQL with setIfAbsent. So a reader that read PostgreSQL before a change can never
// overwrite what the change wrote (its setIfAbsent finds the key taken), and after a change every
// later call on every instance sharing the cache reads the new state. Ended sessions get a tombstone
// in their entry's place (see cache.ts). Instances with an in-process cache learn of other processes'
// changes through the change feed (changeFeed.ts), which calls the same writers.
import type { Logger } from 'pino';
import { TOMBSTONE, type Cache } from './cache.ts';
import { cacheKeyOf } from '../sessions/sessionId.ts';

export interface UserState {
  active: boolean;
  admin: boolean;
}
export interface ClientState {
  active: boolean;
  scopes: string[];
}
export type TokenState = 'ok' | 'revoked';

export const USER_PREFIX = 'user:';
export const userKey = (id: number | string): string => `${USER_PREFIX}${id}`;
export const clientKey = (id: string): string => `client:${id}`;
export const tokenKey = (jti: string): string => `token:${jti}`;

/** State keys live an hour; a key that runs out is filled again from PostgreSQL. */
const STATE_TTL = 3600;

export const encodeUser = (s: UserState): string => JSON.stringify({ a: s.active, adm: s.admin });
export const encodeClient = (s: ClientState): string => JSON.stringify({ a: s.active, s: s.scopes });

/**
 * Decoded state by its cached text: a validated call reads the same few texts over and over, so it
 * pays a map lookup instead of a JSON parse. Callers never change what they get. Bounded: cleared
 * when full (the texts come from our own writes, a few per user and client).
 */
function memoised<T>(decode: (raw: string) => T): (raw: string | null) => T | undefined {
  const seen = new Map<string, T>();
  return (raw) => {
    if (raw === null) return undefined;
    let value = seen.get(raw);
    if (value === undefined) {
      if (seen.size >= 10_000) seen.clear();
      seen.set(raw, (value = decode(raw)));
    }
    return value;
  };
}

export const decodeUser = memoised((raw): UserState => {
  const v = JSON.parse(raw) as { a: boolean; adm: boolean };
  return Object.freeze({ active: v.a === true, admin: v.adm === true });
});
export const decodeClient = memoised((raw): ClientState => {
  const v = JSON.parse(raw) as { a: boolean; s: string[] };
  return Object.freeze({ active: v.a === true, scopes: Object.freeze(Array.isArray(v.s) ? v.s : []) as string[] });
});
export const decodeToken = (raw: string | null): TokenState | undefined => (raw === 'ok' || raw === 'revoked' ? raw : undefined);

export function stateCache(cache: Cache, log: Logger, tombstoneSeconds: number) {
  // A change is already committed in PostgreSQL when these run. If the cache cannot take it (Redis down
  // at that moment), the old copy stays until its TTL: logged as an error an operator can grep.
  const write = async (what: string, work: Promise<unknown>) => {
    await work.catch((err: Error) => log.error({ err: err.message, what }, '[CACHE STALE] a change could not be written to the cache; it stays stale until its TTL'));
  };
  const fill = (key: string, value: string, ttl: number) => cache.setIfAbsent(key, value, ttl).catch(() => false);
  const untilExp = (exp: number) => Math.max(1, exp - Math.floor(Date.now() / 1000));

  return {
    user: (id: number, s: UserState) => write('user', cache.set(userKey(id), encodeUser(s), STATE_TTL)),
    client: (id: string, s: ClientState) => write('client', cache.set(clientKey(id), encodeClient(s), STATE_TTL)),
    token: (jti: string, s: TokenState, exp: number) => write('token', cache.set(tokenKey(jti), s, untilExp(exp))),
    /** Tombstones where the sessions' entries were (or would be restored). */
    sessionsEnded: async (hashes: string[], reason: string) => {
      if (hashes.length) await write('session end', Promise.all(hashes.map((h) => cache.set(cacheKeyOf(h), TOMBSTONE + reason, tombstoneSeconds))));
    },
    fillUser: (id: number, s: UserState) => fill(userKey(id), encodeUser(s), STATE_TTL),
    fillClient: (id: string, s: ClientState) => fill(clientKey(id), encodeClient(s), STATE_TTL),
    fillToken: (jti: string, s: TokenState, exp: number) => fill(tokenKey(jti), s, untilExp(exp)),
  };
}

export type StateCache = ReturnType<typeof stateCache>;
