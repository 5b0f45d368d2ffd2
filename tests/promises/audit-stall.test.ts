// README (Reliability): if PostgreSQL stalls without failing, a batch not written within 5 s is spooled
// to disk, and should it land after all, its replay inserts nothing twice. The stall is a lock on the
// audit table held by this test (embedded: also PGlite's one connection) until the row is in the spool.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { realStores, startTestTether, type TestTether } from '../support/tether.ts';
import { startThrowawayPostgres, startThrowawayRedis, type ThrowawayPostgres, type ThrowawayRedis } from '../support/throwaway.ts';
import { storesEnv } from '../faults/load.ts';
import { unique } from '../support/fixtures.ts';

let t: TestTether;
let pg: ThrowawayPostgres | undefined;
// A throwaway Redis beside the throwaway PostgreSQL: two databases on one Redis db read each other's user:<id> keys.
let redis: ThrowawayRedis | undefined;
test.before(async () => {
  // Real mode on a throwaway PostgreSQL: a lock on the shared audit table would stall every other
  // test file's audit writes too.
  if (realStores) [pg, redis] = await Promise.all([startThrowawayPostgres(), startThrowawayRedis()]);
  t = await startTestTether(pg ? storesEnv(pg.url, redis?.url) : {});
});
test.after(async () => {
  await t?.close();
  await Promise.all([pg?.stop(), redis?.stop()]);
});

/** The spool as it stands: the file, plus the copy a replay in progress works on (renamed aside). */
const spoolText = (file: string) => [file, `${file}.replaying`].map((f) => (existsSync(f) ? readFileSync(f, 'utf8') : '')).join('');

async function poll(ms: number, check: () => boolean | Promise<boolean>): Promise<boolean> {
  for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) if (await check()) return true;
  return false;
}

test('a stalled audit insert: the row goes to the spool after 5 s, and ends up in the table exactly once', async () => {
  const spoolFile = join(t.config.dataDir, 'audit-spool.ndjson');
  const requestIds = [unique('stall'), unique('stall')];
  let stalledFor = 0;
  await t.services.db.sql.begin(async (tx) => {
    await tx`lock table api_access_log in exclusive mode`;
    const lockedAt = Date.now();
    for (const id of requestIds) assert.is((await t.rpc('system.ping', {}, { 'x-request-id': id })).status, 200, 'answered without its audit row');
    // Held until both rows are in the spool file (the insert gave up waiting); 60 s for a loaded machine.
    const spooled = await poll(60_000, () => requestIds.every((id) => spoolText(spoolFile).includes(id)));
    stalledFor = Date.now() - lockedAt;
    assert.ok(spooled, 'the stalled rows were spooled');
    const [{ n }] = await tx<{ n: number }[]>`select count(*)::int as n from api_access_log where client_request_id = any(${requestIds})`;
    assert.is(n, 0, 'not in the table while it is locked');
  });
  // Not spooled before the insert had its 5 s (the lower bound cannot be hurt by a loaded machine).
  assert.ok(stalledFor >= 5000, `spooled after ${stalledFor} ms`);

  // The lock is gone: the stalled insert lands, and the spool is replayed over it.
  const settled = await poll(60_000, async () => {
    await t.services.audit.flush();
    const rows = await t.services.db.sql`select client_request_id from api_access_log where client_request_id = any(${requestIds})`;
    return rows.length >= requestIds.length && t.services.audit.counters.replayed >= requestIds.length;
  });
  assert.ok(settled, `rows in the table and the spool replayed: replayed ${t.services.audit.counters.replayed}`);
  const rows = await t.services.db.sql<{ request_id: string; n: number }[]>`
    select client_request_id as request_id, count(*)::int as n from api_access_log where client_request_id = any(${requestIds}) group by client_request_id order by client_request_id`;
  // Our X-Request-Id is kept as client_request_id beside the service's own request id.
  assert.equal(rows.map((r) => ({ ...r })), [...requestIds].sort().map((request_id) => ({ request_id, n: 1 })), 'each row exactly once');
});

test.run();
