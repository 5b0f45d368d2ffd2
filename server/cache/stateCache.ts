// What the cache keeps beside the sessions, so that a validated call reads everything it checks in
// its one round trip and never asks PostgreSQL: a user's state (active, admin), an OAuth client's
// (active, scopes), and an access token's (revoked or not). PostgreSQL stays the truth: a change is
// written to the cache only through the change log (changeLog.ts), in the log's order. A reader that
// found nothing fills the gap from PostgreSQL with setIfAbsent, so a reader that read PostgreSQL
// before a change can never overwrite what the change wrote (its setIfAbsent finds the key taken).
import type { Logger } from 'pino';
import type { Cache } from './cache.ts';

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
export const CLIENT_PREFIX = 'client:';
export const TOKEN_PREFIX = 'token:';
export const clientKey = (id: string): string => `${CLIENT_PREFIX}${id}`;
export const tokenKey = (jti: string): string => `${TOKEN_PREFIX}${jti}`;
/**
 * Version keys: the change-log position of the last change of a table whose reads are memoised per
 * process (agents.list's pages, server/stores/agentPages.ts). Written by the change log in its order
 * (changeLog.ts), read by the validated call's lookup of the methods that ask for it (their `reads`),
 * and kept in every slot group on a cluster, as the other state keys are.
 */
export const VERSION_PREFIX = 'version:';
export const agentsVersionKey = `${VERSION_PREFIX}agents`;
/** The tables a method may ask the version of (method.ts `reads`), by their keys. */
export const VERSION_KEYS = { agents: agentsVersionKey } as const;
export type VersionedTable = keyof typeof VERSION_KEYS;

/** State keys live an hour; a key that runs out is filled again from PostgreSQL. */
export const STATE_TTL = 3600;

export const encodeUser = (s: UserState): string => JSON.stringify({ a: s.active, adm: s.admin });
export const encodeClient = (s: ClientState): string => JSON.stringify({ a: s.active, s: s.scopes });

/**
 * Decoded state by its cached text: a validated call reads the same few texts over and over, so it
 * pays a map lookup instead of a JSON parse. Callers never change what they get. Bounded: cleared
 * when full (the texts come from our own writes, a few per user and client). A text that does not
 * decode (garbage in the key) answers CORRUPT: the caller reads PostgreSQL and replaces it.
 */
export const CORRUPT = Symbol('corrupt');
function memoised<T>(decode: (raw: string) => T | undefined): (raw: string | null) => T | typeof CORRUPT | undefined {
  const seen = new Map<string, T>();
  return (raw) => {
    if (raw === null) return undefined;
    let value = seen.get(raw);
    if (value === undefined) {
      try {
        value = decode(raw);
      } catch {
        value = undefined;
      }
      if (value === undefined) return CORRUPT;
      if (seen.size >= 10_000) seen.clear();
      seen.set(raw, value);
    }
    return value;
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const decodeUser = memoised((raw): UserState | undefined => {
  const v = JSON.parse(raw) as unknown;
  if (!isObject(v) || typeof v.a !== 'boolean' || typeof v.adm !== 'boolean') return undefined;
  return Object.freeze({ active: v.a, admin: v.adm });
});
export const decodeClient = memoised((raw): ClientState | undefined => {
  const v = JSON.parse(raw) as unknown;
  if (!isObject(v) || typeof v.a !== 'boolean' || !Array.isArray(v.s) || !v.s.every((x) => typeof x === 'string')) return undefined;
  return Object.freeze({ active: v.a, scopes: Object.freeze([...(v.s as string[])]) as string[] });
});
/** A version key's text: a log position (digits), or CORRUPT. */
export const decodeVersion = (raw: string | null): string | typeof CORRUPT | undefined => (raw === null ? undefined : /^\d{1,16}$/.test(raw) ? raw : CORRUPT);
export const decodeToken = (raw: string | null): TokenState | typeof CORRUPT | undefined => (raw === null ? undefined : raw === 'ok' || raw === 'revoked' ? raw : CORRUPT);

export function stateCache(cache: Cache, log: Logger) {
  // `near`: the session key of the call that read the key (on a Redis Cluster, its group's copy is the one written).
  const fill = (key: string, value: string, ttl: number, near?: string) => cache.setIfAbsent(key, value, ttl, near).catch(() => false);
  /** A key that held garbage: replaced with PostgreSQL's answer only while it still holds that garbage. */
  const mend = (kind: string, key: string, bad: string, value: string, ttl: number, near?: string) => {
    log.warn({ kind }, '[CACHE CORRUPT] an unreadable cache entry was read from PostgreSQL and replaced');
    return cache.replace(key, bad, value, ttl, near).catch(() => false);
  };
  const untilExp = (exp: number) => Math.max(1, exp - Math.floor(Date.now() / 1000));

  return {
    fillUser: (id: number, s: UserState, near?: string) => fill(userKey(id), encodeUser(s), STATE_TTL, near),
    fillClient: (id: string, s: ClientState, near?: string) => fill(clientKey(id), encodeClient(s), STATE_TTL, near),
    fillToken: (jti: string, s: TokenState, exp: number, near?: string) => fill(tokenKey(jti), s, untilExp(exp), near),
    /**
     * A version key found missing (expired, or an emptied cache caught up from a log that no longer
     * holds its last change): filled with the cache's own log position read in the same lookup, which
     * is at least the position of every change already applied, and below that of any change still to
     * come; a change applied meanwhile has written the key, and this fill finds it taken.
     */
    fillVersion: (key: string, position: number, near?: string) => fill(key, String(position), STATE_TTL, near),
    mendUser: (id: number, bad: string, s: UserState, near?: string) => mend('user', userKey(id), bad, encodeUser(s), STATE_TTL, near),
    mendClient: (id: string, bad: string, s: ClientState, near?: string) => mend('client', clientKey(id), bad, encodeClient(s), STATE_TTL, near),
    mendToken: (jti: string, bad: string, s: TokenState, exp: number, near?: string) => mend('token', tokenKey(jti), bad, s, untilExp(exp), near),
    mendVersion: (key: string, bad: string, position: number, near?: string) => mend('version', key, bad, String(position), STATE_TTL, near),
    /** Logs and replaces a corrupt session entry (sessionService restores it from PostgreSQL). */
    mendSession: (key: string, bad: string, value: string, ttl: number) => mend('session', key, bad, value, ttl),
  };
}

export type StateCache = ReturnType<typeof stateCache>;
