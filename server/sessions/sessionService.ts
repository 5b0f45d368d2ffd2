// Sessions across both stores: PostgreSQL is the truth, the cache holds what validation needs with
// TTL = idle timeout. A cache miss restores from PostgreSQL with the remaining idle time, so a cache
// restart logs nobody out; last_activity in PostgreSQL lags real activity by at most
// min(60 s, idle timeout / 10).
//
// An end is final: it is committed in PostgreSQL, then a tombstone takes the entry's place in the
// cache. Every other cache write is conditional (cache.ts): a restore only fills an empty key, a
// keep-alive, refresh or undone slide only touches a live entry. So whatever was in flight when an
// end answered, no later call on any instance sharing the cache finds the session alive.
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { isLive, tombstoneReason, type Cache } from '../cache/cache.ts';
import type { EndReason, Ended, SessionStore, SessionWithUser } from '../stores/sessionStore.ts';
import type { SigningKeys } from '../auth/keys.ts';
import type { Peer } from '../rpc/context.ts';
import type { PublicUser, UserStore } from '../stores/userStore.ts';
import type { Metrics } from '../metrics.ts';
import { decodeUser, USER_PREFIX, type StateCache, type UserState } from '../cache/stateCache.ts';
import { RpcError } from '../errors.ts';
import { cacheKeyOf, hashOf, newSessionId } from './sessionId.ts';
import { fingerprintOf } from './fingerprint.ts';
import { signSecurityToken } from './securityToken.ts';

/** What the cache keeps per session (times in epoch seconds). */
export interface SessionEntry {
  id: number;
  uid: number;
  login: string;
  name: string;
  /** The admin flag at login; calls use the user's live state (`Found.user`). */
  admin: boolean;
  cid: string;
  tok: string | null;
  /** login time */
  at: number;
  /** absolute end */
  abs: number;
  /** last_activity as last written to PostgreSQL */
  la: number;
  /** last password proof (password_proved_at: the login); absent in entries cached before it existed, then `at` */
  pp?: number;
}

export interface Found {
  hash: string;
  entry: SessionEntry;
  /** The user's live state (active, admin): changes reach every call at once. */
  user: UserState;
  /** True when the cache missed and PostgreSQL answered. */
  restored: boolean;
}

/** What a call's one cache round trip already read for this session (requireJwt does it). */
export interface Prefetched {
  session: string | null;
  user: string | null;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

/** Storage failures become the catalogue's 503; everything else passes through. */
async function storage<T>(work: Promise<T>, log: Logger, what: string): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof RpcError) throw err;
    log.error({ err: (err as Error).message, what }, 'session storage unavailable');
    throw new RpcError('STORAGE_UNAVAILABLE', 'Neither the session cache nor the database could answer; retry shortly.');
  }
}

/**
 * The refusal for a session that has ended, by its end reason. session_timeout is the timeout of that
 * reason: the idle timeout for `idle`, the absolute lifetime for `absolute` (as requireSession reports
 * an absolute end it finds itself).
 */
export function endedError(reason: string | null, idle: number, absolute: number): RpcError {
  if (reason === 'idle' || reason === 'absolute') {
    const detail = reason === 'idle' ? 'This session has expired: log in again.' : 'The session reached its absolute lifetime: log in again.';
    return new RpcError('SESSION_EXPIRED', detail, { reason, session_timeout: reason === 'idle' ? idle : absolute });
  }
  return new RpcError('SESSION_REQUIRED', `This session has ended (${reason ?? 'inactive'}): log in again.`, { reason: reason ?? 'inactive' });
}

/** What the cache keeps of a row (the doctor rebuilds the same from PostgreSQL). */
export function entryOf(row: SessionWithUser): SessionEntry {
  return {
    id: row.id,
    uid: row.user_id,
    login: row.login,
    name: row.name,
    admin: row.is_admin,
    cid: row.client_id,
    tok: row.security_token,
    at: seconds(row.login_at),
    abs: seconds(row.expires_at),
    la: seconds(row.last_activity),
    pp: seconds(row.password_proved_at),
  };
}

export function sessionService(deps: {
  config: Config;
  log: Logger;
  cache: Cache;
  state: StateCache;
  store: SessionStore;
  users: Pick<UserStore, 'stateOf'>;
  keys: SigningKeys;
  metrics: Pick<Metrics, 'sessionsEnded' | 'cacheLookup'>;
}) {
  const { config, log, cache, state, store, users, keys, metrics } = deps;
  const idle = config.sessionIdleTimeout;
  const touchEvery = Math.max(1, Math.min(60, Math.floor(idle / 10)));

  /** Cache writes never fail a call: PostgreSQL has the truth and restores on the next miss. */
  const quietly = <T>(work: Promise<T>, fallback: T) =>
    work.catch((err: Error) => {
      log.warn({ err: err.message }, 'session cache write failed');
      return fallback;
    });

  const ended = async (reason: EndReason, result: Ended): Promise<number> => {
    metrics.sessionsEnded(reason, result.ended.length);
    await state.sessionsEnded([...result.ended, ...result.before], reason);
    return result.ended.length;
  };

  /** The idle deadline a client can plan with: never past the absolute end. */
  const deadline = (entry: SessionEntry, from = nowSeconds()) => new Date(Math.min(from + idle, entry.abs) * 1000);

  /** The user's live state: from the lookup when the cache had it, else PostgreSQL (and filled in). */
  async function userStateOf(uid: number, raw: string | null): Promise<UserState> {
    const cached = decodeUser(raw);
    if (cached) return cached;
    const fresh = await storage(users.stateOf(uid), log, 'user state');
    const s = fresh ?? { active: false, admin: false };
    await state.fillUser(uid, s);
    return s;
  }

  async function restore(hash: string): Promise<Found> {
    const row = await storage(store.findByHash(hash), log, 'restore');
    if (!row) throw new RpcError('SESSION_REQUIRED', 'No session with this session_id: log in again.', { reason: 'unknown' });
    if (!row.is_active || !row.user_active) throw endedError(row.is_active ? 'user_disabled' : row.end_reason, idle, config.sessionAbsoluteTimeout);
    const idleFor = nowSeconds() - seconds(row.last_activity);
    if (idleFor > idle) {
      await endOne(hash, 'idle');
      throw new RpcError('SESSION_EXPIRED', `Session expired after ${idle} seconds of inactivity: log in again.`, { reason: 'idle', session_timeout: idle });
    }
    const entry = entryOf(row);
    // Only into an empty key: an end that committed after our read has left its tombstone there.
    await quietly(cache.setIfAbsent(cacheKeyOf(hash), JSON.stringify(entry), idle - idleFor), false);
    const user = { active: row.user_active, admin: row.is_admin };
    await state.fillUser(row.user_id, user);
    return { hash, entry, user, restored: true };
  }

  async function fromCache(hash: string, raw: string, userRaw: string | null): Promise<Found> {
    if (!isLive(raw)) throw endedError(tombstoneReason(raw), idle, config.sessionAbsoluteTimeout);
    const entry = JSON.parse(raw) as SessionEntry;
    const user = await userStateOf(entry.uid, userRaw);
    return { hash, entry, user, restored: false };
  }

  async function endOne(hash: string, reason: EndReason): Promise<boolean> {
    const wasActive = await storage(store.end(hash, reason), log, 'end');
    if (wasActive) metrics.sessionsEnded(reason);
    // Tombstoned whether or not it was still active: a later end still reaches an entry.
    await state.sessionsEnded([hash], reason);
    return wasActive;
  }

  return {
    idleTimeout: idle,
    deadline,
    /** The sweeper ends rows in PostgreSQL and tombstones their cache entries through this. */
    forget: (hashes: string[], reason: EndReason) => state.sessionsEnded(hashes, reason),

    async open(user: PublicUser, clientId: string, peer: Peer) {
      const sessionId = newSessionId();
      const hash = hashOf(sessionId);
      const loginAt = new Date(nowSeconds() * 1000);
      const lifetime = config.sessionAbsoluteTimeout;
      const expiresAt = new Date(loginAt.getTime() + lifetime * 1000);
      const fingerprint = fingerprintOf(peer);
      const securityToken = signSecurityToken(keys.session, { uid: user.id, sid: hash, cid: clientId, fingerprint }, lifetime);
      const opened = await storage(
        store.open(
          { hash, userId: user.id, clientId, securityToken, ip: fingerprint.ip, userAgent: fingerprint.ua, acceptLanguage: fingerprint.lang, clientFingerprint: fingerprint.client, loginAt, expiresAt },
          config.maxSessionsPerUser,
        ),
        log,
        'login',
      );
      if (!opened) throw new RpcError('USER_INACTIVE', 'This user is disabled: ask an administrator.');
      if (opened.capped.length) {
        await ended('cap', { ended: opened.capped, before: [] });
        log.info({ user_id: user.id, ended: opened.capped.length, cap: config.maxSessionsPerUser }, '[SESSION CAP] oldest sessions ended');
      }
      const entry: SessionEntry = { id: opened.id, uid: user.id, login: user.login, name: user.name, admin: user.is_admin, cid: clientId, tok: securityToken, at: seconds(loginAt), abs: seconds(expiresAt), la: seconds(loginAt), pp: seconds(loginAt) };
      // Into an empty key only: a concurrent end (a cap, a disable) may already have tombstoned it.
      await quietly(cache.setIfAbsent(cacheKeyOf(hash), JSON.stringify(entry), Math.min(idle, lifetime)), false);
      return { sessionId, hash, entry, expiresAt: deadline(entry), absoluteExpiresAt: expiresAt };
    },

    /**
     * By the session id's hash: the cache first (one round trip that also slides the idle TTL and reads
     * the user's state; requireJwt may have made it already), then PostgreSQL.
     */
    async find(hash: string, prefetched?: Prefetched): Promise<Found> {
      let looked = prefetched;
      if (!looked) {
        try {
          looked = await cache.lookup(cacheKeyOf(hash), idle, USER_PREFIX, []);
        } catch (err) {
          metrics.cacheLookup('error');
          log.debug({ err: (err as Error).message }, 'session cache unavailable: asking PostgreSQL');
        }
      }
      if (looked) metrics.cacheLookup(looked.session === null ? 'miss' : 'hit');
      if (looked?.session) return fromCache(hash, looked.session, looked.user);
      return restore(hash);
    },

    /** Lazy last_activity: at most one PostgreSQL write per session per `touchEvery` seconds, off the call's path. */
    keepAlive(found: Found): void {
      const now = nowSeconds();
      if (now - found.entry.la < touchEvery) return;
      found.entry.la = now;
      store.touch(found.hash, new Date(now * 1000)).catch((err: Error) => log.warn({ err: err.message }, 'last_activity update failed'));
      void quietly(cache.setIfLive(cacheKeyOf(found.hash), JSON.stringify(found.entry), Math.min(idle, found.entry.abs - now)), false);
    },

    /**
     * Undoes a lookup's slide after a refused call: the TTL goes back to the idle time left since the
     * last recorded activity (`la`, which lags real activity by at most the touch interval), so a
     * refused call never extends a session; at worst its owner loses that lag.
     */
    unslide(found: Found): void {
      if (found.restored) return;
      const now = nowSeconds();
      const left = Math.min(idle - (now - found.entry.la), found.entry.abs - now);
      void quietly(cache.expireIfLive(cacheKeyOf(found.hash), Math.max(1, left)), false);
    },

    /** sessions.refresh: the idle clock restarts now (the cache entry and PostgreSQL both), never past the absolute end. */
    async refresh(found: Found): Promise<Date> {
      const now = nowSeconds();
      found.entry.la = now;
      await storage(store.touch(found.hash, new Date(now * 1000)), log, 'refresh');
      const key = cacheKeyOf(found.hash);
      if (!(await quietly(cache.setIfLive(key, JSON.stringify(found.entry), Math.min(idle, found.entry.abs - now)), true))) {
        // Not live any more: an end answered while this call was in flight. Say so rather than "refreshed".
        const now2 = await quietly(cache.get(key), null);
        if (now2 !== null && !isLive(now2)) throw endedError(tombstoneReason(now2), idle, config.sessionAbsoluteTimeout);
      }
      return deadline(found.entry, now);
    },

    end: endOne,

    async endById(id: number, reason: EndReason, userId?: number): Promise<boolean> {
      const row = await storage(store.endById(id, reason, userId), log, 'end');
      if (!row) return false;
      if (row.ended) metrics.sessionsEnded(reason);
      await state.sessionsEnded([row.hash], reason);
      return row.ended;
    },

    async endOthers(userId: number, exceptHash: string, reason: EndReason = 'revoked'): Promise<number> {
      return ended(reason, await storage(store.endOfUser(userId, reason, exceptHash), log, 'end others'));
    },

    async endAllOfUser(userId: number, reason: EndReason): Promise<number> {
      return ended(reason, await storage(store.endOfUser(userId, reason), log, 'end all'));
    },
  };
}

export type SessionService = ReturnType<typeof sessionService>;
