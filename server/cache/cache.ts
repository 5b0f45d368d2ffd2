// The session cache contract: Redis in production, an in-process map when REDIS_URL is unset.
// Both keep the same TTL semantics (seconds; ttl() answers -2 missing, -1 no expiry).
//
// An entry is "live" unless its value starts with TOMBSTONE. An end writes a tombstone where the
// session's entry was, and every later write that could bring an entry back is conditional:
// setIfAbsent (a restore from PostgreSQL) loses to the tombstone, setIfLive / expireIfLive (a
// keep-alive, a refresh, an undone slide) never touch one. Each of those is one atomic step (a Redis
// script, or one synchronous turn of the event loop), so no interleaving of calls can revive a
// session an end has answered for.

export const TOMBSTONE = '!';
/**
 * A stale mark: the change log said this live session's row changed (its token, lifetime...) at the
 * position after the mark, so the entry must be read from PostgreSQL again. Not live; a restore read
 * at that position or later replaces it (restore()).
 */
export const STALE = '?';
/** Where a cache keeps the change-log position it has applied: one key per database's log (its origin). */
export const positionKey = (origin: string): string => `cache:pos:${origin}`;
export const isLive = (value: string | null): boolean => value !== null && !value.startsWith(TOMBSTONE) && !value.startsWith(STALE);
export const isTombstone = (value: string | null): boolean => value !== null && value.startsWith(TOMBSTONE);
/** What a tombstone says: the reason its session ended (null when it says none). */
export const tombstoneReason = (tombstone: string): string | null => tombstone.slice(TOMBSTONE.length) || null;

/** One write of the change log (changeLog.ts), at its position. */
export interface LoggedWrite {
  pos: number;
  key: string;
  value: string;
  ttl: number;
}

/** What a validated call reads in its one round trip. */
export interface Lookup {
  /**
   * The cache has not applied every change of the log this instance knows of (a Redis that missed a
   * write, or came back from an older snapshot): nothing else was read, nothing slid.
   */
  behind: boolean;
  /**
   * The change-log position the cache had applied when it answered (the session's slot group's, on a
   * cluster); -1 when behind. What a missing version key is filled with (stateCache.ts fillVersion).
   */
  position: number;
  /** The session entry (slid to the idle TTL when live), a tombstone, or null. */
  session: string | null;
  /** The state of the user the live session entry names (by its `"uid":N`), or null. */
  user: string | null;
  /** The other keys asked for, in order. */
  values: (string | null)[];
}

export interface Cache {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  /** Reads and slides the TTL of a live entry in one round trip (Redis GETEX); a tombstone is answered, not slid. */
  getAndSlide(key: string, ttlSeconds: number): Promise<string | null>;
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /**
   * Writes only where nothing is (Redis SET NX); answers whether it wrote. `near`: the session key of
   * the call that found the key missing. A Redis Cluster keeps a copy of each state key per slot
   * group (redisCache.ts), and then writes only the copy of that session's group; unset, every copy.
   */
  setIfAbsent(key: string, value: string, ttlSeconds: number, near?: string): Promise<boolean>;
  /** Rewrites a live entry; never creates one, never overwrites a tombstone. */
  setIfLive(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  /** Sets a live entry's TTL; never touches a tombstone. */
  expireIfLive(key: string, ttlSeconds: number): Promise<boolean>;
  /**
   * The validated call's one round trip: first the cache's log position against `known` (the
   * position this instance has read up to); then, only when the cache is not behind, the session
   * entry (slid when live), the state of the user it names (`userKeyPrefix` + uid), and `keys`.
   */
  lookup(sessionKey: string | undefined, idleSeconds: number, userKeyPrefix: string, keys: string[], known: number): Promise<Lookup>;
  /** A restore from PostgreSQL read at log position `pos`: writes where nothing is, or over a stale mark no newer than `pos`. */
  restore(key: string, value: string, ttlSeconds: number, pos: number): Promise<boolean>;
  /** Compare-and-set: writes only while the key still holds `expected` (a corrupt entry is replaced, nothing newer is). */
  replace(key: string, expected: string, value: string, ttlSeconds: number, near?: string): Promise<boolean>;
  /** The change-log position this cache has applied; -1 when it records none (a new or emptied cache). */
  position(): Promise<number>;
  /**
   * Applies, in one atomic step, the writes above the cache's position in order, then records
   * max(position, upTo). Writes at or below the position were applied before and are skipped, so two
   * instances applying the same changes cannot reorder them. Answers the position after.
   */
  applyLog(writes: LoggedWrite[], upTo: number): Promise<number>;
  del(...keys: string[]): Promise<void>;
  ttl(key: string): Promise<number>;
  /** Adds 1 and, on the first hit, sets the window; answers the count and the seconds left. */
  hit(key: string, windowSeconds: number): Promise<{ count: number; ttl: number }>;
  /**
   * Gives one hit back: deletes the counter when it still stands at `clearAt` (nobody counted after
   * that hit), else takes 1 off (never below 0, never creating it).
   */
  unhit(key: string, clearAt?: number): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The user id a session entry names, without parsing the whole entry (the Redis script does the same). */
export const uidOf = (entry: string): string | undefined => /"uid":(\d+)/.exec(entry)?.[1];
