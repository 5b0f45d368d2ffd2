// Sessions across both stores: PostgreSQL is the truth, the cache holds what validation needs with
// TTL = idle timeout. A cache miss restores from PostgreSQL with the remaining idle time, so a cache
// restart logs nobody out; last_activity in PostgreSQL lags real activity by at most
// min(60 s, idle timeout / 10).
//
// An end is final: it is committed in PostgreSQL (a trigger appends it to the change log in the same
// transaction), then the log is applied to the cache (a tombstone takes the entry's place) before the
// end is answered. Every other cache write is conditional (cache.ts): a restore only fills an empty
// key (or a stale mark older than its read), a keep-alive, refresh or undone slide only touches a
// live entry. So whatever was in flight when an end answered, no later call on any instance sharing
// the cache finds the session alive; and a cache that missed the tombstone is behind the log and
// answers nothing until it has it (cache/changeLog.ts).
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { isTombstone, STALE, tombstoneReason, type Cache } from '../cache/cache.ts';
import type { EndReason, SessionStore, SessionWithUser } from '../stores/sessionStore.ts';
import type { SigningKeys } from '../auth/keys.ts';
import type { Peer } from '../rpc/context.ts';
import type { PublicUser, UserStore } from '../stores/userStore.ts';
import type { Metrics } from '../metrics.ts';
import { CORRUPT, decodeUser, USER_PREFIX, type StateCache, type UserState } from '../cache/stateCache.ts';
import type { ChangeLog } from '../cache/changeLog.ts';
import type { ActivityWriter } from './activityWriter.ts';
import { RpcError } from '../errors.ts';
import { cacheKeyOf, hashOf, newSessionId, prefixOf } from './sessionId.ts';
import { fingerprintOf } from './fingerprint.ts';
import { signSecurityToken } from './securityToken.ts';
import { memoAdmission } from '../memoAdmission.ts';

/** The shape of a cache entry: an entry of another version is a miss, read again from PostgreSQL. */
export const ENTRY_VERSION = 2;

/** What the cache keeps per session (times in epoch seconds). */
export interface SessionEntry {
  v: typeof ENTRY_VERSION;
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
  /** last password proof (password_proved_at: the login) */
  pp: number;
}

export interface Found {
  hash: string;
  entry: SessionEntry;
  /** The user's live state (active, admin): changes reach every call at once. */
  user: UserState;
  /** True when the cache missed (or could not be trusted) and PostgreSQL answered. */
  restored: boolean;
}

/** What a call's one cache round trip already read for this session (requireJwt does it). */
export interface Prefetched {
  /** False when the cache could not be trusted (behind the change log, or unreachable): PostgreSQL answers. */
  usable: boolean;
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

/** The refusal for a session that has ended, by its end reason. */
export function endedError(reason: string | null, timeouts: { idle: number; absolute: number }): RpcError {
  if (reason === 'idle') return new RpcError('SESSION_EXPIRED', 'This session has expired: log in again.', { reason, session_timeout: timeouts.idle });
  if (reason === 'absolute') {
    return new RpcError('SESSION_EXPIRED', 'The session reached its absolute lifetime: log in again.', { reason, session_timeout: timeouts.absolute });
  }
  return new RpcError('SESSION_REQUIRED', `This session has ended (${reason ?? 'inactive'}): log in again.`, { reason: reason ?? 'inactive' });
}

/** What the cache keeps of a row (the doctor rebuilds the same from PostgreSQL). */
export function entryOf(row: SessionWithUser): SessionEntry {
  return {
    v: ENTRY_VERSION,
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

/** A cache entry as written by this version, or undefined (garbage, another shape, another version). */
export function parseEntry(raw: string): SessionEntry | undefined {
  let e: Partial<SessionEntry>;
  try {
    e = JSON.parse(raw) as Partial<SessionEntry>;
  } catch {
    return undefined;
  }
  const ok =
    typeof e === 'object' && e !== null && e.v === ENTRY_VERSION &&
    [e.id, e.uid, e.at, e.abs, e.la, e.pp].every((n) => Number.isSafeInteger(n)) &&
    typeof e.login === 'string' && typeof e.name === 'string' && typeof e.admin === 'boolean' && typeof e.cid === 'string' &&
    (e.tok === null || typeof e.tok === 'string');
  return ok ? (e as SessionEntry) : undefined;
}

/** Sessions whose decoded entry is kept (~1.5 KB each): the busy ones; beyond it, the oldest kept goes. */
export const DECODED_ENTRIES_MAX = 2000;

/**
 * A live session's cache entry comes back as the same text call after call (it changes when
 * last_activity is written, at most once per touch interval), so it is parsed and checked once per
 * text, kept by session hash, and handed out frozen to every call that reads that text: a JSON.parse
 * of ~700 bytes and the objects it makes were a visible share of a validated call's CPU and garbage.
 * The text is compared whole, so any change to the entry (another instance's keep-alive, a restore)
 * is decoded afresh.
 */
function decodedEntries(max = DECODED_ENTRIES_MAX) {
  const byHash = new Map<string, { raw: string; entry: SessionEntry }>();
  // More sessions in rotation than it holds: it keeps one in 16 (server/memoAdmission.ts says why).
  const admission = memoAdmission();
  return {
    entryOf(hash: string, raw: string): SessionEntry | undefined {
      const known = byHash.get(hash);
      if (known !== undefined && known.raw === raw) {
        admission.hit();
        return known.entry;
      }
      const entry = parseEntry(raw);
      if (!entry) return undefined;
      Object.freeze(entry);
      const full = known === undefined && byHash.size >= max;
      if (!admission.miss(full)) return entry;
      if (full) byHash.delete(byHash.keys().next().value as string);
      byHash.set(hash, { raw, entry });
      return entry;
    },
  };
}

export function sessionService(deps: {
  config: Config;
  log: Logger;
  cache: Cache;
  state: StateCache;
  changes: Pick<ChangeLog, 'lookup' | 'afterChange'>;
  store: SessionStore;
  users: Pick<UserStore, 'stateOf'>;
  keys: SigningKeys;
  metrics: Pick<Metrics, 'sessionsEnded' | 'cacheLookup'>;
  /** Keep-alives' last_activity, batched (activityWriter.ts). */
  activity: Pick<ActivityWriter, 'touch'>;
}) {
  const { config, log, cache, state, changes, store, users, keys, metrics, activity } = deps;
  const idle = config.sessionIdleTimeout;
  const timeouts = { idle, absolute: config.sessionAbsoluteTimeout };
  const touchEvery = Math.max(1, Math.min(60, Math.floor(idle / 10)));
  const decoded = decodedEntries();

  /** Cache writes never fail a call: PostgreSQL has the truth and restores on the next miss. */
  const quietly = <T>(work: Promise<T>, fallback: T) =>
    work.catch((err: Error) => {
      log.warn({ err: err.message }, 'session cache write failed');
      return fallback;
    });

  /** Ends committed: counted, then the cache brought up to the change log before they are answered. */
  const ended = async (reason: EndReason, hashes: string[]): Promise<number> => {
    metrics.sessionsEnded(reason, hashes.length);
    if (hashes.length) await changes.afterChange();
    return hashes.length;
  };

  /** The idle deadline a client can plan with: never past the absolute end. */
  const deadline = (entry: SessionEntry, from = nowSeconds()) => new Date(Math.min(from + idle, entry.abs) * 1000);

  /** The user's live state: from the lookup when the cache had it, else PostgreSQL (and filled in, or mended). */
  async function userStateOf(uid: number, raw: string | null, writable: boolean, near: string): Promise<UserState> {
    const cached = decodeUser(raw);
    if (cached && cached !== CORRUPT) return cached;
    const fresh = await storage(users.stateOf(uid), log, 'user state');
    const s = fresh ?? { active: false, admin: false };
    if (writable) await (cached === CORRUPT && raw !== null ? state.mendUser(uid, raw, s, near) : state.fillUser(uid, s, near));
    return s;
  }

  /**
   * PostgreSQL answers: on a miss, on a stale mark, on a corrupt entry (`bad`, replaced only while it
   * still holds that text), or when the cache cannot be trusted (`writable` false: nothing is written).
   */
  async function restore(hash: string, writable: boolean, bad?: string): Promise<Found> {
    const row = await storage(store.findByHash(hash), log, 'restore');
    if (!row) throw new RpcError('SESSION_REQUIRED', 'No session with this session_id: log in again.', { reason: 'unknown' });
    if (!row.is_active || !row.user_active) throw endedError(row.is_active ? 'user_disabled' : row.end_reason, timeouts);
    const entry = entryOf(row);
    const idleFor = nowSeconds() - entry.la;
    if (idleFor > idle) {
      await endOne(hash, 'idle');
      throw new RpcError('SESSION_EXPIRED', `Session expired after ${idle} seconds of inactivity: log in again.`, { reason: 'idle', session_timeout: idle });
    }
    const user = { active: row.user_active, admin: row.is_admin };
    if (writable) {
      const key = cacheKeyOf(hash);
      const text = JSON.stringify(entry);
      const ttl = Math.min(idle - idleFor, entry.abs - nowSeconds());
      // A corrupt entry is replaced while it still holds the garbage; otherwise only an empty key (or a
      // stale mark no newer than this read) is filled: an end that committed after our read has left
      // its tombstone there.
      await quietly(bad === undefined ? cache.restore(key, text, ttl, row.log_pos) : state.mendSession(key, bad, text, ttl), false);
      await state.fillUser(row.user_id, user, key);
    }
    return { hash, entry, user, restored: true };
  }

  async function fromCache(hash: string, raw: string, userRaw: string | null): Promise<Found> {
    if (isTombstone(raw)) throw endedError(tombstoneReason(raw), timeouts);
    if (raw.startsWith(STALE)) return restore(hash, true);
    const entry = decoded.entryOf(hash, raw);
    if (!entry) return restore(hash, true, raw);
    const user = await userStateOf(entry.uid, userRaw, true, cacheKeyOf(hash));
    return { hash, entry, user, restored: false };
  }

  async function endOne(hash: string, reason: EndReason): Promise<boolean> {
    const wasActive = await storage(store.end(hash, reason), log, 'end');
    if (wasActive) await ended(reason, [hash]);
    return wasActive;
  }

  return {
    idleTimeout: idle,
    deadline,

    /**
     * Opens a session for a user whose password (its stored hash: `passwordHash`) was just verified.
     * Refused when the user was disabled, or the password changed, since that check.
     */
    async open(user: PublicUser, clientId: string, peer: Peer, passwordHash: string) {
      const sessionId = newSessionId();
      const hash = hashOf(sessionId);
      const loginAt = new Date(nowSeconds() * 1000);
      const lifetime = config.sessionAbsoluteTimeout;
      const expiresAt = new Date(loginAt.getTime() + lifetime * 1000);
      const fingerprint = fingerprintOf(peer);
      const securityToken = signSecurityToken(keys.session, { uid: user.id, sid: hash, cid: clientId, fingerprint }, lifetime);
      const opened = await storage(
        store.open(
          { hash, idPrefix: prefixOf(sessionId), userId: user.id, clientId, securityToken, ip: fingerprint.ip, userAgent: fingerprint.ua, acceptLanguage: fingerprint.lang, clientFingerprint: fingerprint.client, loginAt, expiresAt, passwordHash },
          config.maxSessionsPerUser,
        ),
        log,
        'login',
      );
      if (opened === 'inactive') throw new RpcError('USER_INACTIVE', 'This user is disabled: ask an administrator.');
      if (opened === 'password_changed') {
        log.warn({ user_id: user.id }, '[LOGIN FAILED] the password changed while the login was checked: no session opened');
        throw new RpcError('AUTHENTICATION_FAILED', 'The login or the password is wrong.');
      }
      if (opened.capped.length) {
        await ended('cap', opened.capped);
        log.info({ user_id: user.id, ended: opened.capped.length, cap: config.maxSessionsPerUser }, '[SESSION CAP] oldest sessions ended');
      }
      const entry: SessionEntry = { v: ENTRY_VERSION, id: opened.id, uid: user.id, login: user.login, name: user.name, admin: user.is_admin, cid: clientId, tok: securityToken, at: seconds(loginAt), abs: seconds(expiresAt), la: seconds(loginAt), pp: seconds(loginAt) };
      // Into an empty key only: a concurrent end (a cap, a disable) may already have tombstoned it.
      await quietly(cache.setIfAbsent(cacheKeyOf(hash), JSON.stringify(entry), Math.min(idle, lifetime)), false);
      return { sessionId, hash, entry, expiresAt: deadline(entry), absoluteExpiresAt: expiresAt };
    },

    /**
     * By the session id's hash: the cache first (one round trip that also checks the cache against
     * the change log, slides the idle TTL and reads the user's state; requireJwt may have made it
     * already), then PostgreSQL.
     */
    async find(hash: string, prefetched?: Prefetched): Promise<Found> {
      let looked = prefetched;
      if (!looked) {
        try {
          const answer = await changes.lookup(cacheKeyOf(hash), idle, USER_PREFIX, []);
          looked = answer ? { usable: true, session: answer.session, user: answer.user } : { usable: false, session: null, user: null };
        } catch (err) {
          log.debug({ err: (err as Error).message }, 'session cache unavailable: asking PostgreSQL');
          looked = { usable: false, session: null, user: null };
        }
      }
      metrics.cacheLookup(!looked.usable ? 'error' : looked.session === null ? 'miss' : 'hit');
      if (!looked.usable) return restore(hash, false);
      if (looked.session !== null) return fromCache(hash, looked.session, looked.user);
      return restore(hash, true);
    },

    /** Lazy last_activity: at most one PostgreSQL write per session per `touchEvery` seconds, off the call's path. */
    keepAlive(found: Found): void {
      const now = nowSeconds();
      if (now - found.entry.la < touchEvery) return;
      found.entry = { ...found.entry, la: now }; // a copy: the decoded entry is shared (decodedEntries)
      activity.touch(found.hash, now);
      void quietly(cache.setIfLive(cacheKeyOf(found.hash), JSON.stringify(found.entry), Math.min(idle, found.entry.abs - now)), false);
    },

    /**
     * Undoes a lookup's slide after a refused call: the TTL goes back to the idle time left since the
     * last recorded activity (`la`, which lags real activity by at most the touch interval), so a
     * refused call never extends a session; at worst its owner loses that lag.
     */
    unslide(hash: string, entry: SessionEntry): void {
      const now = nowSeconds();
      const left = Math.min(idle - (now - entry.la), entry.abs - now);
      void quietly(cache.expireIfLive(cacheKeyOf(hash), Math.max(1, left)), false);
    },

    /** sessions.refresh: the idle clock restarts now (the cache entry and PostgreSQL both), never past the absolute end. */
    async refresh(found: Found): Promise<Date> {
      const now = nowSeconds();
      found.entry = { ...found.entry, la: now }; // a copy: the decoded entry is shared (decodedEntries)
      await storage(store.touch(found.hash, new Date(now * 1000)), log, 'refresh');
      const key = cacheKeyOf(found.hash);
      if (!(await quietly(cache.setIfLive(key, JSON.stringify(found.entry), Math.min(idle, found.entry.abs - now)), true))) {
        // Not live any more: an end answered while this call was in flight. Say so rather than "refreshed".
        const now2 = await quietly(cache.get(key), null);
        if (now2 !== null && isTombstone(now2)) throw endedError(tombstoneReason(now2), timeouts);
      }
      return deadline(found.entry, now);
    },

    end: endOne,

    async endById(id: number, reason: EndReason, userId?: number): Promise<boolean> {
      const row = await storage(store.endById(id, reason, userId), log, 'end');
      if (!row) return false;
      if (row.ended) await ended(reason, [row.hash]);
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
