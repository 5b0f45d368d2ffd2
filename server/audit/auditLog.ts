// The audit log: one row per call, written in batches off the request path. When PostgreSQL cannot
// take a batch, rows go to an append-only spool file and are replayed in order once it answers;
// every row carries an event id, so a replay interrupted half-way never inserts a row twice.
//
// A row is queued as its line of COPY text, made once when the call is recorded and kept as bytes
// (lineQueue.ts): no object per row for the collector to trace while it waits, and nothing to format
// at flush time. The flush writes a chunk of lines at a time and lets the event loop run between
// them, so a large queue (PostgreSQL slow for a while) never holds calls behind one long synchronous
// piece of work; replays likewise, WRITE_ROWS rows at a time.
import { appendFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Sql } from '../stores/database.ts';
import { eventId } from './eventId.ts';
import { lineQueue, type LineBatch } from './lineQueue.ts';
import { isoNow } from '../isoTime.ts';

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
  /** Who acted when it is no Tether user: `cli:<os user>` for the operators' command line. */
  actor?: string;
}

export type Row = Required<Omit<AuditEvent, 'error_code' | 'user_id' | 'client_id' | 'session_hash_prefix' | 'ip' | 'user_agent' | 'reason' | 'target_id' | 'client_request_id' | 'actor'>> & {
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
  actor: string | null;
};

const INSERT_TIMEOUT_MS = 5000;
/**
 * Queue chunks (64 KB, ~250 rows each) per COPY: a flush's whole queue in one statement at any rate
 * this process reaches.
 */
const COPY_CHUNKS = 64;
/** Spooled lines parsed or written between two turns of the event loop. */
const WRITE_ROWS = 1000;

const COLUMNS = ['event_id', 'at', 'request_id', 'method', 'status', 'error_code', 'duration_ms', 'user_id', 'client_id', 'session_hash_prefix', 'ip', 'user_agent', 'reason', 'target_id', 'client_request_id', 'actor'] as const;

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
  // `?? null`: a row spooled by an older version lacks the newer columns.
  const column = <K extends (typeof COLUMNS)[number]>(name: K) => rows.map((r) => r[name] ?? null);
  return sql`
    insert into api_access_log (event_id, at, request_id, method, status, error_code, duration_ms, user_id, client_id, session_hash_prefix, ip, user_agent, reason,
                                target_id, client_request_id, actor)
    select * from unnest(${column('event_id')}::uuid[], ${column('at')}::timestamptz[], ${column('request_id')}::text[], ${column('method')}::text[],
                         ${column('status')}::int[], ${column('error_code')}::text[], ${column('duration_ms')}::real[], ${column('user_id')}::bigint[],
                         ${column('client_id')}::text[], ${column('session_hash_prefix')}::text[], ${column('ip')}::text[], ${column('user_agent')}::text[],
                         ${column('reason')}::text[], ${column('target_id')}::text[], ${column('client_request_id')}::text[],
                         ${column('actor')}::text[])
    on conflict (event_id, at) do nothing`;
}

/** COPY's text format: NULL is \N; backslash, tab, newline and carriage return are escaped. */
const COPY_ESCAPE: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_SPECIALS = new RegExp(COPY_SPECIAL.source, 'g'); // the same characters, for replace()
const copyField = (value: string | number | null): string =>
  value === null ? '\\N' : typeof value !== 'string' ? String(value) : COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIALS, (c) => COPY_ESCAPE[c]) : value;

const COPY_UNESCAPE: Record<string, string> = { '\\\\': '\\', '\\t': '\t', '\\n': '\n', '\\r': '\r' };
const NUMERIC = new Set<string>(['status', 'duration_ms', 'user_id']);

/** A row's line of COPY text (COLUMNS in order, tab-separated, newline-terminated). */
export function lineOf(row: Row): string {
  let line = '';
  for (let i = 0; i < COLUMNS.length; i++) line += (i ? '\t' : '') + copyField(row[COLUMNS[i]]);
  return line + '\n';
}

/** The row a line of COPY text holds (for the INSERT path and the spool, which keep JSON rows). */
export function rowOf(line: string): Row {
  const fields = line.endsWith('\n') ? line.slice(0, -1).split('\t') : line.split('\t');
  const row: Record<string, string | number | null> = {};
  for (let i = 0; i < COLUMNS.length; i++) {
    const raw = fields[i];
    const value = raw === undefined || raw === '\\N' ? null : raw.includes('\\') ? raw.replace(/\\[\\tnr]/g, (e) => COPY_UNESCAPE[e]) : raw;
    row[COLUMNS[i]] = value !== null && NUMERIC.has(COLUMNS[i]) ? Number(value) : value;
  }
  return row as unknown as Row;
}

/**
 * Fresh rows on real PostgreSQL: COPY costs it about a third less CPU per row than the unnest()
 * INSERT (bench/: PostgreSQL shares the machine's cores with the service, so its CPU per audited call
 * is the service's speed). Fresh event ids never conflict; should a batch that timed out and was
 * spooled land after all, its replay (insertBatch) skips the rows it wrote. Written a queue chunk at a
 * time, the event loop free between them.
 */
async function copyBatch(copySql: Sql, chunks: Buffer[]): Promise<void> {
  const stream = await copySql`copy api_access_log (${copySql(COLUMNS as unknown as string[])}) from stdin`.writable();
  await new Promise<void>((resolve, reject) => {
    stream.once('error', reject);
    stream.once('finish', resolve);
    void (async () => {
      for (let i = 0; i < chunks.length; i++) {
        if (i) await yieldToLoop();
        if (stream.destroyed) return;
        const more = stream.write(chunks[i]);
        if (!more) await new Promise((drained) => (stream.once('drain', drained), stream.once('close', drained)));
      }
      stream.end();
    })().catch(reject);
  });
}

/** An optional text field of a COPY line. */
const text = (value: string | null | undefined): string => (value == null ? '\\N' : copyField(value));

/** PostgreSQL text cannot hold U+0000: one hostile method name must not make a whole batch refused. */
const pgText = (value: string): string => value.replace(/\u0000/g, '\uFFFD');

export function auditLog(options: AuditOptions) {
  const { sql, log, spoolFile } = options;
  const batchSize = options.batchSize ?? 500;
  const queue = lineQueue();
  let spooled = 0;
  let writing: Promise<void> = Promise.resolve();
  const counters = { written: 0, spooled: 0, replayed: 0 };

  // A PostgreSQL that stalls instead of failing must not hold the queue (and memory) hostage: a batch
  // not written within INSERT_TIMEOUT_MS is spooled. Should it land later after all, its replay
  // inserts nothing twice (event_id).
  const bounded = async (work: Promise<unknown>) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`audit insert took longer than ${INSERT_TIMEOUT_MS} ms`)), INSERT_TIMEOUT_MS);
    });
    try {
      await Promise.race([work, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  /** Fresh rows (COPY lines): by COPY on real PostgreSQL, else parsed a batch at a time for the INSERT. */
  const insertFresh = async (batch: LineBatch) => {
    const copySql = options.copySql;
    if (copySql) {
      for (let i = 0; i < batch.bytes.length; i += COPY_CHUNKS) await bounded(copyBatch(copySql, batch.bytes.slice(i, i + COPY_CHUNKS)));
      return;
    }
    const lines = batch.lines();
    for (let i = 0; i < lines.length; i += batchSize) {
      if (i) await yieldToLoop();
      await bounded(insertBatch(sql, lines.slice(i, i + batchSize).map(rowOf)));
    }
  };

  /** Replayed rows (from the spool's JSON lines), parsed and inserted a batch at a time. */
  const insertSpooled = async (lines: string[]) => {
    for (let i = 0; i < lines.length; i += batchSize) {
      if (i) await yieldToLoop();
      // A spool written before sql/005 has rows without target_id and client_request_id.
      const rows = lines.slice(i, i + batchSize).map((line) => ({ target_id: null, client_request_id: null, ...(JSON.parse(line) as Partial<Row>) }) as Row);
      await bounded(insertBatch(sql, rows));
    }
  };

  const spool = async (lines: string[]) => {
    await mkdir(dirname(spoolFile), { recursive: true });
    let text = '';
    for (let i = 0; i < lines.length; i++) {
      text += JSON.stringify(rowOf(lines[i])) + '\n';
      if (i % WRITE_ROWS === WRITE_ROWS - 1) {
        await appendFile(spoolFile, text);
        text = '';
        await yieldToLoop();
      }
    }
    if (text) await appendFile(spoolFile, text);
    spooled += lines.length;
    counters.spooled += lines.length;
  };

  /** Spooled rows go first, so PostgreSQL receives every row in the order it was recorded. */
  const replay = async (): Promise<boolean> => {
    if (spooled === 0) return true;
    const replaying = `${spoolFile}.replaying`;
    // Rows spooled while we replay land in a fresh file and wait for the next round.
    await rename(spoolFile, replaying).catch(() => {});
    const text = await readFile(replaying, 'utf8').catch(() => '');
    const rows = text.split('\n').filter(Boolean);
    try {
      await insertSpooled(rows);
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
      const batch = queue.take();
      try {
        await replay();
        if (batch.count) await insertFresh(batch);
        counters.written += batch.count;
        batch.release();
      } catch (err) {
        // Not released: a COPY that timed out may still be writing these chunks.
        if (batch.count) {
          await spool(batch.lines()).catch((e: Error) => log.error({ err: e.message, rows: batch.count }, 'audit rows lost: spool not writable'));
          log.warn({ err: (err as Error).message, rows: batch.count, spooled }, 'audit: PostgreSQL refused a batch; spooled to disk');
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
      // lineOf's text, field by field in COLUMNS' order, without a row object in between, copied into
      // the queue's bytes at once (lineQueue.ts says why). Joined: one flat string to measure and copy.
      queue.push(
        [
          eventId(),
          isoNow(),
          copyField(event.request_id),
          copyField(pgText(event.method.slice(0, 200))),
          event.status,
          text(event.error_code),
          event.duration_ms,
          event.user_id ?? '\\N',
          text(event.client_id),
          text(event.session_hash_prefix),
          text(event.ip),
          event.user_agent == null ? '\\N' : copyField(pgText(event.user_agent.slice(0, 500))),
          text(event.reason),
          event.target_id == null ? '\\N' : copyField(pgText(event.target_id.slice(0, 64))),
          text(event.client_request_id),
          `${text(event.actor)}\n`,
        ].join('\t'),
      );
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
