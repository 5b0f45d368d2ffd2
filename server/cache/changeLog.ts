// The change log's follower: how every cache learns what changed in PostgreSQL, whoever changed it
// (this instance, another one, the CLI, SQL typed in psql). Triggers (sql/008) append each session
// end, live-session change, user, client and token state change (and, sql/017, one row per transaction
// that changed agents) to cache_changes in the transaction that makes it, numbered in commit order. This follower reads the log by position and applies it to
// the cache in one atomic step per batch, which also records the position applied, in the cache
// itself (Redis keeps it beside the data it describes).
//
// `known` is the highest position this instance has read. A validated call's lookup compares the
// cache's position with it in the same round trip, so a cache that missed a write (Redis unreachable
// for a moment) or came back older (a restart from a snapshot, a failover) is behind, answers nothing,
// and is caught up from the log before it serves again; if it cannot be, PostgreSQL answers the call.
//
// Wake-ups: a notification on tether_changes (sent by the triggers), a local change (sync() before
// the change's answer), a reconnect of the LISTEN connection, and a poll every `pollMs` that finds
// what a lost notification did not announce.
import type { Logger } from 'pino';
import type { Sql } from '../stores/database.ts';
import type { Cache, Lookup, LoggedWrite } from './cache.ts';
import { STALE, TOMBSTONE } from './cache.ts';
import { agentsVersionKey, clientKey, encodeClient, encodeUser, STATE_TTL, tokenKey, userKey } from './stateCache.ts';
import { cacheKeyOf } from '../sessions/sessionId.ts';
import { pollEvery } from '../timers.ts';

export const CHANNEL = 'tether_changes';
const BATCH = 1000;

export interface ChangeRow {
  pos: number;
  kind: 'session_end' | 'session' | 'user' | 'client' | 'token' | 'agents';
  key: string;
  data: Record<string, unknown>;
}

/** What a change writes to the cache: tombstones and stale marks outlive any entry they replace. */
export function writeOf(row: ChangeRow, tombstoneSeconds: number): LoggedWrite {
  const d = row.data;
  switch (row.kind) {
    case 'session_end':
      return { pos: row.pos, key: cacheKeyOf(row.key), value: TOMBSTONE + String(d.reason ?? 'revoked'), ttl: tombstoneSeconds };
    case 'session':
      return { pos: row.pos, key: cacheKeyOf(row.key), value: STALE + String(row.pos), ttl: tombstoneSeconds };
    case 'user':
      return { pos: row.pos, key: userKey(row.key), value: encodeUser({ active: d.active === true, admin: d.admin === true }), ttl: STATE_TTL };
    case 'client':
      return { pos: row.pos, key: clientKey(row.key), value: encodeClient({ active: d.active === true, scopes: Array.isArray(d.scopes) ? (d.scopes as string[]) : [] }), ttl: STATE_TTL };
    case 'token':
      return { pos: row.pos, key: tokenKey(row.key), value: 'revoked', ttl: Math.max(1, Number(d.exp) - Math.floor(Date.now() / 1000)) };
    case 'agents':
      // The agents' version is the position of their last change: positions only grow, so a version
      // read after this write differs from every version read before the change committed.
      return { pos: row.pos, key: agentsVersionKey, value: String(row.pos), ttl: STATE_TTL };
  }
}

/** The log's origin: a cache keeps its position per origin, so two databases never share one. */
export async function logOrigin(sql: Sql): Promise<string> {
  const [row] = await sql<{ origin: string }[]>`select origin from cache_log_origin limit 1`;
  return row.origin;
}

export function changeLog(deps: { sql: Sql; cache: Cache; log: Logger; tombstoneSeconds: number; pollMs?: number; onBehind?: () => void }) {
  const { sql, cache, log, tombstoneSeconds } = deps;
  const pollMs = deps.pollMs ?? 1000;
  let known = 0;
  let behindSince = 0;
  // This instance's own changes, counted before their catch-up: until a catch-up that began after a
  // change has succeeded, the cache is behind it, even while its position is not known yet (the read
  // of the log's head can itself be slow or failing, and a change is answered after at most 2 s).
  let changes = 0;
  let applied = 0;
  let stopPolling = () => {};
  let stopped = false;

  const read = (after: number) =>
    sql<ChangeRow[]>`select pos::float8 as pos, kind, key, data from cache_changes where pos > ${after} order by pos limit ${BATCH}`;

  const readHead = async () => (await sql<{ pos: number }[]>`select coalesce(max(pos), 0)::float8 as pos from cache_changes`)[0].pos;

  /**
   * Learns the log's head from PostgreSQL first (so a cache that cannot take the changes now is known
   * to be behind the moment it answers again), then reads the log from the cache's own position and
   * applies it, batch by batch.
   */
  async function catchUp(): Promise<void> {
    const upTo = changes;
    known = Math.max(known, await readHead());
    let at = await cache.position();
    for (;;) {
      const rows = await read(at);
      const head = rows.length ? rows[rows.length - 1].pos : Math.max(at, known);
      // Known before applied: until the cache has it, lookups see the cache behind and wait for this.
      known = Math.max(known, head);
      if (!rows.length && at >= head) break;
      at = await cache.applyLog(rows.map((r) => writeOf(r, tombstoneSeconds)), head);
      if (rows.length < BATCH) break;
    }
    applied = Math.max(applied, upTo);
    if (behindSince) {
      log.info({ position: known, behind_ms: Date.now() - behindSince }, '[CACHE CAUGHT UP] the cache has applied the change log again');
      behindSince = 0;
    }
  }

  // Single flight: a caller during a run gets the next run, which starts after the current one and so
  // reads whatever the caller committed before it asked.
  let current: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  function sync(): Promise<void> {
    if (!current) {
      current = catchUp()
        .catch((err: Error) => {
          if (!behindSince) {
            behindSince = Date.now();
            log.warn({ err: err.message, position: known }, '[CACHE BEHIND] the cache could not apply the change log; calls are answered from PostgreSQL until it has');
          }
          throw err;
        })
        .finally(() => (current = undefined));
      return current;
    }
    queued ??= current.catch(() => {}).then(() => {
      queued = undefined;
      return sync();
    });
    return queued;
  }

  /** After a change this instance committed: the cache has it before the change is answered. Never fails the change. */
  async function afterChange(): Promise<void> {
    changes++;
    let timeout: NodeJS.Timeout | undefined;
    const limit = new Promise<void>((resolve) => (timeout = setTimeout(resolve, 2000)));
    await Promise.race([sync().catch(() => {}), limit]);
    clearTimeout(timeout);
  }

  /**
   * The validated call's lookup, checked against the log: answers undefined when the cache cannot be
   * trusted now (behind and not caught up, or unreachable), and the caller asks PostgreSQL, writing
   * nothing to the cache.
   */
  async function lookup(sessionKey: string | undefined, idleSeconds: number, userKeyPrefix: string, keys: string[]): Promise<Lookup | undefined> {
    const looked = await cache.lookup(sessionKey, idleSeconds, userKeyPrefix, keys, known);
    if (!looked.behind && applied >= changes) return looked;
    deps.onBehind?.();
    try {
      await sync();
    } catch {
      return undefined;
    }
    const again = await cache.lookup(sessionKey, idleSeconds, userKeyPrefix, keys, known);
    return again.behind || applied < changes ? undefined : again;
  }

  return {
    known: () => known,
    sync,
    afterChange,
    lookup,
    /** Reads the log's head, then follows it: notifications, reconnects and the poll all wake sync(). */
    async follow(listen: (channel: string, onPayload: () => void, onListen: () => void) => Promise<void>): Promise<void> {
      known = Math.max(known, await readHead());
      const wake = () => void sync().catch(() => {});
      await listen(CHANNEL, wake, wake);
      if (!stopped) stopPolling = pollEvery(pollMs, wake);
      await sync().catch(() => {});
    },
    /**
     * Drops log rows older than `keepSeconds`, which must outlast every cache entry a change can
     * invalidate (the longest TTL a key can have, plus a margin): a cache older than the oldest row
     * kept holds nothing the dropped rows still govern. Bounded chunks, no long lock.
     */
    async prune(keepSeconds: number): Promise<number> {
      let dropped = 0;
      for (let round = 0; round < 20; round++) {
        const rows = await sql`
          delete from cache_changes where pos in (
            select pos from cache_changes where at < now() - make_interval(secs => ${keepSeconds}) order by pos limit 10000)`;
        dropped += rows.count;
        if (rows.count < 10000) break;
      }
      return dropped;
    },
    stop(): void {
      stopped = true;
      stopPolling();
    },
  };
}

export type ChangeLog = ReturnType<typeof changeLog>;
