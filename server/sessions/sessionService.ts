// Sessions across both stores: PostgreSQL is the truth, the cache holds what validation needs with
// TTL = idle timeout. A cache miss restores from PostgreSQL with the remaining idle time, so a cache
// restart logs nobody out; last_activity in PostgreSQL lags real activity by at most
// min(60 s, idle timeout / 10).
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Cache } from '../stores/cache.ts';
import type { EndReason, SessionStore, SessionWithUser } from '../stores/sessionStore.ts';
import type { SigningKeys } from '../auth/keys.ts';
import type { Peer } from '../rpc/context.ts';
import type { PublicUser } from '../stores/userStore.ts';
import type { Metrics } from '../metrics.ts';
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
  /** True when the cache missed and PostgreSQL answered. */
  restored: boolean;
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

export function sessionService(deps: { config: Config; log: Logger; cache: Cache; store: SessionStore; keys: SigningKeys; metrics: Pick<Metrics, 'sessionsEnded' | 'cacheLookup'> }) {
  const { config, log, cache, store, keys, metrics } = deps;
  const idle = config.sessionIdleTimeout;
  const touchEvery = Math.max(1, Math.min(60, Math.floor(idle / 10)));

  /** Cache writes never fail a call: PostgreSQL has the truth and restores on the next miss. */
  const cachePut = (hash: string, entry: SessionEntry, ttl: number) =>
    cache.set(cacheKeyOf(hash), JSON.stringify(entry), Math.max(1, ttl)).catch((err: Error) => log.warn({ err: err.message }, 'session cache write failed'));

  const cacheDrop = async (hashes: string[]) => {
    if (!hashes.length) return;
    await cache.del(...hashes.map(cacheKeyOf)).catch((err: Error) =>
      log.error({ err: err.message, sessions: hashes.length }, 'session cache delete failed: ended sessions stay cached until their TTL'),
    );
  };

  /** The idle deadline a client can plan with: never past the absolute end. */
  const deadline = (entry: SessionEntry, from = nowSeconds()) => new Date(Math.min(from + idle, entry.abs) * 1000);

  async function restore(hash: string): Promise<Found> {
    const row = await storage(store.findByHash(hash), log, 'restore');
    if (!row) throw new RpcError('SESSION_REQUIRED', 'No session with this session_id: log in again.', { reason: 'unknown' });
    if (!row.is_active || !row.user_active) {
      if (row.end_reason === 'idle' || row.end_reason === 'absolute') {
        throw new RpcError('SESSION_EXPIRED', 'This session has expired: log in again.', { reason: row.end_reason, session_timeout: idle });
      }
      throw new RpcError('SESSION_REQUIRED', `This session has ended (${row.end_reason ?? 'inactive'}): log in again.`, { reason: row.end_reason ?? 'inactive' });
    }
    const idleFor = nowSeconds() - seconds(row.last_activity);
    if (idleFor > idle) {
      if (await storage(store.end(hash, 'idle'), log, 'end idle')) metrics.sessionsEnded('idle');
      throw new RpcError('SESSION_EXPIRED', `Session expired after ${idle} seconds of inactivity: log in again.`, { reason: 'idle', session_timeout: idle });
    }
    const entry = entryOf(row);
    await cachePut(hash, entry, idle - idleFor);
    return { hash, entry, restored: true };
  }

  return {
    idleTimeout: idle,
    deadline,
    /** The sweeper ends rows in PostgreSQL and drops their cache entries through this. */
    forget: cacheDrop,

    async open(user: PublicUser, clientId: string, peer: Peer) {
      const sessionId = newSessionId();
      const hash = hashOf(sessionId);
      const loginAt = new Date(nowSeconds() * 1000);
      const lifetime = config.sessionAbsoluteTimeout;
      const expiresAt = new Date(loginAt.getTime() + lifetime * 1000);
      const fingerprint = fingerprintOf(peer);
      const securityToken = signSecurityToken(keys.session, { uid: user.id, sid: hash, cid: clientId, fingerprint }, lifetime);
      const id = await storage(
        store.insert({ hash, userId: user.id, clientId, securityToken, ip: fingerprint.ip, userAgent: fingerprint.ua, acceptLanguage: fingerprint.lang, clientFingerprint: fingerprint.client, loginAt, expiresAt }),
        log,
        'login',
      );
      const capped = await storage(store.endBeyondCap(user.id, config.maxSessionsPerUser), log, 'cap');
      metrics.sessionsEnded('cap', capped.length);
      await cacheDrop(capped);
      if (capped.length) log.info({ user_id: user.id, ended: capped.length, cap: config.maxSessionsPerUser }, '[SESSION CAP] oldest sessions ended');
      const entry: SessionEntry = { id, uid: user.id, login: user.login, name: user.name, admin: user.is_admin, cid: clientId, tok: securityToken, at: seconds(loginAt), abs: seconds(expiresAt), la: seconds(loginAt), pp: seconds(loginAt) };
      await cachePut(hash, entry, Math.min(idle, lifetime));
      return { sessionId, hash, entry, expiresAt: deadline(entry), absoluteExpiresAt: expiresAt };
    },

    /** By the session id's hash: cache first (one GETEX that also slides the idle TTL), then PostgreSQL. */
    async find(hash: string): Promise<Found> {
      let raw: string | null = null;
      try {
        raw = await cache.getAndSlide(cacheKeyOf(hash), idle);
        metrics.cacheLookup(raw === null ? 'miss' : 'hit');
      } catch (err) {
        metrics.cacheLookup('error');
        log.debug({ err: (err as Error).message }, 'session cache unavailable: asking PostgreSQL');
      }
      if (raw !== null) return { hash, entry: JSON.parse(raw) as SessionEntry, restored: false };
      return restore(hash);
    },

    /** Lazy last_activity: at most one PostgreSQL write per session per `touchEvery` seconds, off the call's path. */
    keepAlive(found: Found): void {
      const now = nowSeconds();
      if (now - found.entry.la < touchEvery) return;
      found.entry.la = now;
      store.touch(found.hash, new Date(now * 1000)).catch((err: Error) => log.warn({ err: err.message }, 'last_activity update failed'));
      void cachePut(found.hash, found.entry, Math.min(idle, found.entry.abs - now));
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
      if (left <= 0) void cacheDrop([found.hash]);
      else void cachePut(found.hash, found.entry, left);
    },

    /** sessions.refresh: the idle clock restarts now (the cache entry and PostgreSQL both), never past the absolute end. */
    async refresh(found: Found): Promise<Date> {
      const now = nowSeconds();
      found.entry.la = now;
      await storage(store.touch(found.hash, new Date(now * 1000)), log, 'refresh');
      await cachePut(found.hash, found.entry, Math.min(idle, found.entry.abs - now));
      return deadline(found.entry, now);
    },

    async end(hash: string, reason: EndReason): Promise<boolean> {
      const ended = await storage(store.end(hash, reason), log, 'end');
      if (ended) metrics.sessionsEnded(reason);
      await cacheDrop([hash]);
      return ended;
    },

    async endById(id: number, reason: EndReason, userId?: number): Promise<boolean> {
      const hash = await storage(store.endById(id, reason, userId), log, 'end');
      if (hash) metrics.sessionsEnded(reason);
      if (hash) await cacheDrop([hash]);
      return hash !== undefined;
    },

    async endOthers(userId: number, exceptHash: string): Promise<number> {
      const hashes = await storage(store.endOthers(userId, exceptHash, 'revoked'), log, 'end others');
      metrics.sessionsEnded('revoked', hashes.length);
      await cacheDrop(hashes);
      return hashes.length;
    },

    async endAllOfUser(userId: number, reason: EndReason): Promise<number> {
      const hashes = await storage(store.endAllOfUser(userId, reason), log, 'end all');
      metrics.sessionsEnded(reason, hashes.length);
      await cacheDrop(hashes);
      return hashes.length;
    },
  };
}

export type SessionService = ReturnType<typeof sessionService>;
