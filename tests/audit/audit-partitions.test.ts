// The audit partitioned by day (sql/014): a call's row lands in its day's partition (COPY on real
// PostgreSQL, INSERT on the embedded one), partitions are made a week ahead, retention drops whole
// days, admin.audit.query reads only the days its range covers (EXPLAIN), and the migration converts
// an unpartitioned table of 1M rows without losing one (on a throwaway PostgreSQL).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import pino from 'pino';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { loggedIn, unique } from '../support/fixtures.ts';
import { testIn } from '../support/modes.ts';
import { startThrowawayPostgres } from '../support/throwaway.ts';
import { auditQuery } from '../../server/stores/auditStore.ts';
import { retention } from '../../server/audit/retention.ts';
import { migrate } from '../../server/stores/migrate.ts';
import { openDatabase, type Sql } from '../../server/stores/database.ts';

let t: TestTether;
test.before(async () => {
  t = await startTestTether({ SWEEP_INTERVAL: '0' });
});
test.after(async () => {
  await t?.close();
});

const DAY = 86400_000;
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10).replace(/-/g, '');
const partitionOf = (ms: number) => `api_access_log_p${utcDay(ms)}`;

async function partitions(sql: Sql): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'api_access_log'::regclass order by 1`;
  return rows.map((r) => r.name);
}

test("partitions from yesterday to a week ahead exist, and a call's row lands in its day's partition", async () => {
  const sql = t.services.db.sql;
  const names = await partitions(sql);
  for (let d = -1; d <= 7; d++) assert.ok(names.includes(partitionOf(Date.now() + d * DAY)), `partition for day ${d}: ${names.join(',')}`);
  assert.ok(names.includes('api_access_log_default'));

  const user = await loggedIn(t);
  const rid = unique('part');
  const res = await user.call('me', {}, { 'x-request-id': rid });
  assert.is(res.status, 200);
  await t.services.audit.flush();
  const [row] = await sql<{ part: string; at: Date }[]>`select tableoid::regclass::text as part, at from api_access_log where client_request_id = ${rid}`;
  assert.ok(row, 'the row was written');
  assert.is(row.part, partitionOf(row.at.getTime()));
});

test("the replay's dedup key is (event_id, at): the same row replayed is skipped, on the partitioned table", async () => {
  const sql = t.services.db.sql;
  const event = crypto.randomUUID();
  // The same at each time: a fixed instant, as a spooled row carries its own.
  const at = new Date(Date.now() - 3600_000);
  for (let i = 0; i < 2; i++) {
    await sql`insert into api_access_log (event_id, at, request_id, method, status, duration_ms)
              values (${event}, ${at}, 'r', 'replayed', 200, 1) on conflict (event_id, at) do nothing`;
  }
  const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from api_access_log where event_id = ${event}`;
  assert.is(n, 1);
});

test('retention drops the day partitions wholly past RETENTION_DAYS, and old rows of the default partition', async () => {
  const sql = t.services.db.sql;
  const oldDay = Date.now() - 20 * DAY;
  const day = utcDay(oldDay);
  const first = `${day.slice(0, 4)}-${day.slice(4, 6)}-${day.slice(6)}`;
  await sql`select tether_audit_partitions(${first}::date, ${first}::date)`;
  const inPartition = crypto.randomUUID();
  const inDefault = crypto.randomUUID();
  const kept = crypto.randomUUID();
  await sql`insert into api_access_log (event_id, at, request_id, method, status, duration_ms) values
            (${inPartition}, ${new Date(oldDay)}, 'r', 'old', 200, 1),
            (${inDefault}, ${new Date(Date.now() - 400 * DAY)}, 'r', 'older', 200, 1),
            (${kept}, ${new Date(Date.now() - 2 * DAY)}, 'r', 'recent', 200, 1)`;
  const [{ part }] = await sql<{ part: string }[]>`select tableoid::regclass::text as part from api_access_log where event_id = ${inPartition}`;
  assert.is(part, partitionOf(oldDay));

  const result = await retention({ sql, store: t.services.sessionRows, log: pino({ level: 'silent' }), days: 10 })();
  assert.ok(result.audit_partitions >= 1, JSON.stringify(result));
  assert.ok(result.audit_rows >= 1, JSON.stringify(result));
  assert.not.ok((await partitions(sql)).includes(partitionOf(oldDay)), 'the old day is dropped as a whole');
  const left = await sql<{ event_id: string }[]>`select event_id from api_access_log where event_id in (${inPartition}, ${inDefault}, ${kept})`;
  assert.equal(left.map((r) => r.event_id), [kept]);
  // Partitions ahead are still there (each run makes missing ones).
  assert.ok((await partitions(sql)).includes(partitionOf(Date.now() + 7 * DAY)));
});

test('admin.audit.query reads only the partitions its time range covers (EXPLAIN)', async () => {
  const sql = t.services.db.sql;
  const from = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()) + 2 * DAY + 3600_000);
  const to = new Date(from.getTime() + 3600_000);
  const plan = (await sql<{ 'QUERY PLAN': string }[]>`explain ${auditQuery(sql, { from, to, limit: 50 })}`).map((r) => r['QUERY PLAN']).join('\n');
  const scanned = [...new Set(plan.match(/api_access_log_(p\d{8}|default)/g) ?? [])];
  assert.equal(scanned, [partitionOf(from.getTime())], plan);

  // Without a range, every day is read.
  const all = (await sql<{ 'QUERY PLAN': string }[]>`explain ${auditQuery(sql, { limit: 50 })}`).map((r) => r['QUERY PLAN']).join('\n');
  assert.ok(new Set(all.match(/api_access_log_p\d{8}/g) ?? []).size >= 9, all);
});

const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));
const ROWS = 1_000_000;

/** Migrations before 014 on `sql`, `rows` audit rows, then 014: every row, its id and the sequence kept. */
async function convert(sql: Sql, rows: number) {
  const before = await mkdtemp(join(tmpdir(), 'tether-sql-'));
  try {
    // Every migration before 014: the audit as it was.
    for (const f of await readdir(SQL_DIR)) if (f < '014') await cp(join(SQL_DIR, f), join(before, f));
    await migrate(sql, before);
  } finally {
    await rm(before, { recursive: true, force: true });
  }
  // Spread over the last 30 days, a few from a year ago, so the conversion makes partitions for the whole range.
  await sql`
    insert into api_access_log (event_id, at, request_id, method, status, error_code, duration_ms, user_id, client_id, reason, target_id, client_request_id)
    select gen_random_uuid(), now() - (case when g % 100000 = 1 then interval '365 days' else interval '30 days' * (g::float8 / ${rows}) end),
           'req-' || g, 'me', case when g % 10 = 0 then 401 else 200 end, case when g % 10 = 0 then 'SESSION_EXPIRED' end,
           g % 50, g % 1000, 'client-' || (g % 7), null, 'target-' || g, 'crid-' || g
      from generate_series(1, ${rows}) g`;
  const step = Math.max(1, Math.floor(rows / 10) - 9);
  const sample = await sql`select * from api_access_log where id % ${step} = 0 order by id`;
  const [{ max }] = await sql<{ max: string }[]>`select max(id)::text as max from api_access_log`;

  // 014, then any later migration (015 on: not about the audit).
  assert.equal((await migrate(sql, SQL_DIR)).filter((f) => f < '015'), ['014_audit_partitioned.sql']);

  const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from api_access_log`;
  assert.is(n, rows);
  const after = await sql`select * from api_access_log where id % ${step} = 0 order by id`;
  assert.ok(sample.length >= 10);
  assert.equal(after, sample);
  // No row in the default partition: the conversion made a day for every day the table held.
  const [{ d }] = await sql<{ d: number }[]>`select count(*)::int as d from api_access_log_default`;
  assert.is(d, 0);
  assert.ok((await partitions(sql)).length >= 38, 'days from a year ago plus the last 30 and the week ahead');
  // The sequence carries on: a new row gets an id above every old one.
  const [row] = await sql<{ id: string }[]>`
    insert into api_access_log (event_id, at, request_id, method, status, duration_ms) values (gen_random_uuid(), now(), 'r', 'me', 200, 1) returning id::text`;
  assert.ok(BigInt(row.id) > BigInt(max), `${row.id} > ${max}`);
}

testIn(test, 'real', 'the migration converts an unpartitioned audit of 1M rows: every row kept, ids and sequence carried on; COPY still lands', async () => {
  const pg = await startThrowawayPostgres();
  const sql = postgres(pg.url, { onnotice: () => {}, max: 1 }) as unknown as Sql;
  try {
    await convert(sql, ROWS);
    // COPY into the parent routes rows to their partitions.
    await sql`copy api_access_log (event_id, at, request_id, method, status, duration_ms) from stdin`.writable().then(
      (stream) =>
        new Promise<void>((resolve, reject) => {
          stream.once('error', reject);
          stream.once('finish', resolve);
          stream.end(`${crypto.randomUUID()}\t${new Date().toISOString()}\tr\tcopied\t200\t1\n`);
        }),
    );
    const [copied] = await sql<{ part: string }[]>`select tableoid::regclass::text as part from api_access_log where method = 'copied'`;
    assert.is(copied.part, partitionOf(Date.now()));
  } finally {
    await sql.end({ timeout: 5 });
    await pg.stop();
  }
});

testIn(test, 'embedded', 'PGlite runs the same migration: an unpartitioned audit of 20k rows converted, every row kept', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'tether-pglite-'));
  const db = await openDatabase({ dataDir });
  try {
    await convert(db.sql, 20_000);
  } finally {
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test.run();
