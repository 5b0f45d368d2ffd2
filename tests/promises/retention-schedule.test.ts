// README (Configuration, Operating): audit rows and ended sessions older than RETENTION_DAYS are pruned
// hourly in the background, by the sweeper's timer: on its first tick, then once an hour's worth of
// ticks. With SWEEP_INTERVAL=0 there is no timer, so nothing is pruned either.
// Real mode runs on a throwaway PostgreSQL: pruning everything older than a day, and a sweeper every
// second, would touch other test files' rows on a shared database.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realStores, startTestTether, type TestTether } from '../support/tether.ts';
import { startThrowawayPostgres, startThrowawayRedis, type ThrowawayPostgres, type ThrowawayRedis } from '../support/throwaway.ts';
import { loggedIn } from '../support/fixtures.ts';
import { storesEnv } from '../faults/load.ts';
import { hashOf } from '../../server/sessions/sessionId.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'tether-retention-'));
let pg: ThrowawayPostgres | undefined;
// A throwaway Redis beside the throwaway PostgreSQL: two databases on one Redis db read each other's user:<id> keys.
let redis: ThrowawayRedis | undefined;
let t: TestTether | undefined;
test.before(async () => {
  if (realStores) [pg, redis] = await Promise.all([startThrowawayPostgres(), startThrowawayRedis()]);
});
test.after(async () => {
  await t?.close();
  await Promise.all([pg?.stop(), redis?.stop()]);
  rmSync(dataDir, { recursive: true, force: true });
});

const start = (sweepInterval: string) =>
  startTestTether({ ...(pg ? storesEnv(pg.url, redis?.url) : {}), DATA_DIR: dataDir, SWEEP_INTERVAL: sweepInterval, RETENTION_DAYS: '1' });

async function poll(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) if (await check()) return true;
  return false;
}

const oldAudit = (x: TestTether, requestId: string) => x.services.db.sql`
  insert into api_access_log (event_id, at, request_id, method, status, duration_ms)
  values (gen_random_uuid(), now() - interval '2 days', ${requestId}, 'me', 200, 1)`;
const auditLeft = async (x: TestTether, requestIds: string[]) =>
  (await x.services.db.sql<{ request_id: string }[]>`select request_id from api_access_log where request_id = any(${requestIds}) order by request_id`).map((r) => r.request_id);

test('RETENTION_DAYS=1: nothing pruned with SWEEP_INTERVAL=0; with a sweeper, pruned on its first tick and not again on the next ones', async () => {
  // SWEEP_INTERVAL=0: no background timer at all, which the server says at start: that line, not a
  // fixed wait, is what proves no prune can come later.
  t = await start('0');
  const off = t.logs.find((l) => String(l.msg).startsWith('[SESSION SWEEP] off (SWEEP_INTERVAL=0)'));
  assert.ok(off, 'the server says it runs no sweeper and no retention');
  await oldAudit(t, 'retention_a');
  assert.equal(await auditLeft(t, ['retention_a']), ['retention_a'], 'SWEEP_INTERVAL=0 prunes nothing');
  await t.close();

  // The same database with a sweeper every second: the first tick prunes the two-day-old row.
  t = await start('1');
  const x = t;
  assert.ok(await poll(60_000, async () => (await auditLeft(x, ['retention_a'])).length === 0), 'the first tick pruned the old audit row');
  // (No check of the "[RETENTION] old rows deleted" line: a prune whose session delete fails on a busy
  // embedded database logs "[RETENTION] failed" instead, after the audit rows are gone.)

  // Rows that are old from now on wait for the next hourly run: a tick that ends a session past its
  // absolute end (proof that the sweeper ran after the insert) leaves them alone.
  await oldAudit(x, 'retention_b');
  const ended = await loggedIn(x);
  await x.services.db.sql`update api_sessions set is_active = false, end_reason = 'logout', logout_at = now() - interval '2 days', ended_at = now() - interval '2 days' where session_hash = ${hashOf(ended.sessionId)}`;
  const overdue = await loggedIn(x);
  await x.services.db.sql`update api_sessions set expires_at = now() - interval '1 second' where session_hash = ${hashOf(overdue.sessionId)}`;
  const swept = await poll(60_000, async () => {
    const [row] = await x.services.db.sql<{ end_reason: string | null }[]>`select end_reason from api_sessions where session_hash = ${hashOf(overdue.sessionId)}`;
    return row?.end_reason === 'absolute';
  });
  assert.ok(swept, 'the sweeper ticked after the insert');
  assert.equal(await auditLeft(x, ['retention_b']), ['retention_b'], 'not pruned on an ordinary tick');
  const [{ n }] = await x.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_sessions where session_hash = ${hashOf(ended.sessionId)}`;
  assert.is(n, 1, 'the session ended two days ago waits for the next hourly run too');
});

test.run();
