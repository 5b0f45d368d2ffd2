// The audit log: one row per call, written in batches off the request path. When PostgreSQL cannot
// take a batch, rows go to an append-only spool file and are replayed in order once it answers;
// every row carries an event id, so a replay interrupted half-way never inserts a row twice.
import { appendFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Sql } from '../stores/database.ts';
import { eventId } from './eventId.ts';

export interface AuditEvent {
  request_id: string;
  method: string;
  status: number;
  error_code?: string;
  duration_ms: number;
  user_id?: number;
  client_id?: string;
  session_hash_prefix?: string;
  ip?: string;
  user_agent?: string;
  /** The short reason behind a refusal (fingerprint component, end reason). */
  reason?: string;
  /** The id of the object the call named (params id, user_id), as text. */
  target_id?: string;
  /** The X-Request-Id the caller sent (validated), beside the service's own request_id. */
  client_request_id?: string;
}

type Row = Required<Omit<AuditEvent, 'error_code' | 'user_id' | 'client_id' | 'session_hash_prefix' | 'ip' | 'user_agent' | 'reason' | 'target_id' | 'client_request_id'>> & {
  event_id: string;
  at: string;
  error_code: string | null;
  user_id: number | null;
  client_id: string | null;
  session_hash_prefix: string | null;
  ip: string | null;
  user_agent: string | null;
  reason: string | null;
  target_id: string | null;
  client_request_id: string | null;
};

const INSERT_TIMEOUT_MS = 5000;
/** Rows per COPY: a flush's whole queue in one statement at any rate this process reaches. */
const COPY_ROWS = 20_000;

const COLUMNS = ['event_id', 'at', 'request_id', 'method', 'status', 'error_code', 'duration_ms', 'user_id', 'client_id', 'session_hash_prefix', 'ip', 'user_agent', 'reason', 'target_id', 'client_request_id'] as const;

export interface AuditOptions {
  sql: Sql;
  log: Logger;
  spoolFile: string;
  batchSize?: number;
  /** Real PostgreSQL: fresh rows by COPY on this pool of its own (Database.copySql); else, and for replays, by INSERT. */
  copySql?: Sql;
  flushMs?: number;
  replayMs?: number;
}

/**
 * One statement whatever the batch size: each column travels as one array parameter and unnest()
 * turns them back into rows. The text never changes, so PostgreSQL parses and plans it once per
 * connection (a VALUES list of 15 x N parameters was a new statement for every batch size). Used for
 * replays (ON CONFLICT skips rows already written) and on the embedded database.
 */
function insertBatch(sql: Sql, rows: Row[]) {
  const column = <K extends (typeof COLUMNS)[number]>(name: K) => rows.map((r) => r[name]);
  return sql`
    insert into api_access_log (event_id, at, request_id, method, status, error_code, duration_ms, user_id, client_id, session_hash_prefix, ip, user_agent, reason,
                                target_id, client_request_id)
    select * from unnest(${column('event_id')}::uuid[], ${column('at')}::timestamptz[], ${column('request_id')}::text[], ${column('method')}::text[],
                         ${column('status')}::int[], ${column('error_code')}::text[], ${column('duration_ms')}::real[], ${column('user_id')}::bigint[],
                         ${column('client_id')}::text[], ${column('session_hash_prefix')}::text[], ${column('ip')}::text[], ${column('user_agent')}::text[],
                         ${column('reason')}::text[], ${column('target_id')}::text[], ${column('client_request_id')}::text[])
    on conflict (event_id, at) do nothing`;
}

/** COPY's text format: NULL is \N; backslash, tab, newline and carriage return are escaped. */
const COPY_ESCAPE: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_SPECIALS = new RegExp(COPY_SPECIAL.source, 'g'); // the same characters, for replace()
const copyField = (value: string | number | null): string =>
  value === null ? '\\N' : typeof value !== 'string' ? String(value) : COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIALS, (c) => COPY_ESCAPE[c]) : value;

/**
 * Fresh rows on real PostgreSQL: COPY costs it about a third less CPU per row than the unnest()
 * INSERT (bench/: PostgreSQL shares the machine's cores with the service, so its CPU per audited call
 * is the service's speed). Fresh event ids never conflict; should a batch that timed out and was
 * spooled land after all, its replay (insertBatch) skips the rows it wrote.
 */
async function copyBatch(copySql: Sql, rows: Row[]): Promise<void> {
  let text = '';
  for (const row of rows) {
    for (let i = 0; i < COLUMNS.length; i++) text += (i ? '\t' : '') + copyField(row[COLUMNS[i]]);
    text += '\n';
  }
  const stream = await copySql`copy api_access_log (${copySql(COLUMNS as unknown as string[])}) from stdin`.writable();
  await new Promise<void>((resolve, reject) => {
    stream.once('error', reject);
    stream.once('finish', resolve);
    stream.end(text);
  });
}

/** PostgreSQL text cannot hold U+0000: one hostile method name must not make a whole batch refused. */
const pgText = (value: string): string => value.replace(/\u0000/g, '\uFFFD');

export function auditLog(options: AuditOptions) {
  const { sql, log, spoolFile } = options;
  const batchSize = options.batchSize ?? 500;
  let queue: Row[] = [];
  let spooled = 0;
  let writing: Promise<void> = Promise.resolve();
  const counters = { written: 0, spooled: 0, replayed: 0 };

  // A PostgreSQL that stalls instead of failing must not hold the queue (and memory) hostage: a batch
  // not written within INSERT_TIMEOUT_MS is spooled. Should it land later after all, its replay
  // inserts nothing twice (event_id).
  const insert = async (rows: Row[], fresh: boolean) => {
    const copySql = fresh ? options.copySql : undefined;
    const size = copySql ? COPY_ROWS : batchSize;
    for (let i = 0; i < rows.length; i += size) {
      const chunk = rows.slice(i, i + size);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`audit insert took longer than ${INSERT_TIMEOUT_MS} ms`)), INSERT_TIMEOUT_MS);
      });
      try {
        await Promise.race([copySql ? copyBatch(copySql, chunk) : insertBatch(sql, chunk), timeout]);
      } finally {
        clearTimeout(timer);
      }
    }
  };

  const spool = async (rows: Row[]) => {
    await mkdir(dirname(spoolFile), { recursive: true });
    await appendFile(spoolFile, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    spooled += rows.length;
    counters.spooled += rows.length;
  };

  /** Spooled rows go first, so PostgreSQL receives every row in the order it was recorded. */
  const replay = async (): Promise<boolean> => {
    if (spooled === 0) return true;
    const replaying = `${spoolFile}.replaying`;
    // Rows spooled while we replay land in a fresh file and wait for the next round.
    await rename(spoolFile, replaying).catch(() => {});
    const text = await readFile(replaying, 'utf8').catch(() => '');
    // A spool written before sql/005 has rows without target_id and client_request_id.
    const rows = text.split('\n').filter(Boolean).map((line) => ({ target_id: null, client_request_id: null, ...(JSON.parse(line) as Partial<Row>) }) as Row);
    try {
      await insert(rows, false);
    } catch (err) {
      // Put them back in front, keeping the order.
      const later = await readFile(spoolFile, 'utf8').catch(() => '');
      await appendFile(replaying, later);
      await rename(replaying, spoolFile);
      throw err;
    }
    await rm(replaying, { force: true });
    spooled = Math.max(0, spooled - rows.length);
    counters.replayed += rows.length;
    log.info({ rows: rows.length }, 'audit spool replayed');
    return true;
  };

  // Flushes waiting their turn: the timer and the batch trigger add one only when none waits, so a
  // slow PostgreSQL never piles up work (a waiting flush takes whatever is queued when it runs).
  let waiting = 0;
  const flush = (): Promise<void> => {
    waiting++;
    return (writing = writing.then(async () => {
      waiting--;
      const rows = queue;
      queue = [];
      try {
        await replay();
        if (rows.length) await insert(rows, true);
        counters.written += rows.length;
      } catch (err) {
        if (rows.length) {
          await spool(rows).catch((e: Error) => log.error({ err: e.message, rows: rows.length }, 'audit rows lost: spool not writable'));
          log.warn({ err: (err as Error).message, rows: rows.length, spooled }, 'audit: PostgreSQL refused a batch; spooled to disk');
        }
      }
    }));
  };

  const flushTimer = setInterval(() => {
    if ((queue.length || spooled) && waiting === 0) void flush();
  }, options.flushMs ?? 200);
  flushTimer.unref();

  // A spool left by an earlier process is replayed by this one.
  const restored = stat(spoolFile).then(
    async (s) => {
      if (s.size > 0) {
        const text = await readFile(spoolFile, 'utf8');
        spooled = text.split('\n').filter(Boolean).length;
        log.info({ rows: spooled }, 'audit spool found: will replay');
      }
    },
    () => {},
  );

  return {
    record(event: AuditEvent): void {
      queue.push({
        event_id: eventId(),
        at: new Date().toISOString(),
        request_id: event.request_id,
        method: pgText(event.method.slice(0, 200)),
        status: event.status,
        error_code: event.error_code ?? null,
        duration_ms: event.duration_ms,
        user_id: event.user_id ?? null,
        client_id: event.client_id ?? null,
        session_hash_prefix: event.session_hash_prefix ?? null,
        ip: event.ip ?? null,
        user_agent: event.user_agent === undefined ? null : pgText(event.user_agent.slice(0, 500)),
        reason: event.reason ?? null,
        target_id: event.target_id === undefined ? null : pgText(event.target_id.slice(0, 64)),
        client_request_id: event.client_request_id ?? null,
      });
      if (queue.length >= batchSize && waiting === 0) void flush();
    },
    flush: async () => {
      await restored;
      await flush();
    },
    depth: () => queue.length,
    spooledRows: () => spooled,
    counters,
    async close() {
      clearInterval(flushTimer);
      await restored;
      await flush();
    },
  };
}

export type AuditLog = ReturnType<typeof auditLog>;
