// Tether behind PgBouncer in transaction pooling mode: every query through the pooler (with
// DATABASE_LISTEN_URL set, named prepared statements are off: a pooled statement may run on another
// server connection), LISTEN on the direct connection. Two instances with in-process caches and a
// change-log poll of a minute: a logout on one is refused on the other within seconds only if the
// notification arrives, which it cannot through a transaction pooler. Skipped, and said so, when
// pgbouncer is not installed (.ci/run installs Debian's package).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import postgres from 'postgres';
import { startTestTether, TEST_JWT_SECRET, type TestTether } from '../support/tether.ts';
import { loggedIn } from '../support/fixtures.ts';
import { SKIP_MARK, testIn } from '../support/modes.ts';
import { PGBOUNCER_BIN, startThrowawayPgbouncer, startThrowawayPostgres } from '../support/throwaway.ts';

const NAME = 'the session lifecycle through pgbouncer (transaction mode), LISTEN on the direct connection: login, me on both instances, logout refused on both';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function lifecycle() {
  const pg = await startThrowawayPostgres();
  const admin = postgres(pg.url, { onnotice: () => {}, max: 1 });
  await admin`create database tether`;
  await admin.end();
  // A pool smaller than each instance's: queries of one client connection land on different servers.
  const bouncer = await startThrowawayPgbouncer(pg, 'tether', 2);
  const env = {
    DATABASE_URL: bouncer.url,
    DATABASE_LISTEN_URL: pg.urlFor('tether'),
    REDIS_URL: '', // in-process caches: only the change log tells one instance of the other's writes
    JWT_SECRET: TEST_JWT_SECRET,
    CHANGE_POLL_INTERVAL: '60000',
  };
  const started: TestTether[] = [];
  try {
    const a = await startTestTether(env);
    started.push(a);
    const b = await startTestTether(env);
    started.push(b);
    assert.is(a.services.db.kind, 'postgres');

    const user = await loggedIn(a);
    const me = (t: TestTether) => t.rpc('me', { session_id: user.sessionId }, user.headers);
    // Concurrent calls on both: each instance's 10 connections share the pooler's 2 server connections.
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => me(i % 2 ? a : b)));
    for (const res of answers) assert.is(res.status, 200, res.text);
    const list = await Promise.all(Array.from({ length: 10 }, () => user.call('agents.list', { limit: 5 })));
    for (const res of list) assert.is(res.body?.result?.limit, 5, res.text);

    const out = await user.call('users.logout');
    assert.is(out.body?.result?.logged_out, true, out.text);
    const again = await me(a);
    assert.is(again.body?.error?.data?.error_code, 'SESSION_REQUIRED', again.text);
    // B cached the session; only the notification (on the direct connection) tells it within the minute.
    let onB = await me(b);
    for (const deadline = Date.now() + 20_000; onB.status === 200 && Date.now() < deadline; onB = await me(b)) await sleep(200);
    assert.is(onB.body?.error?.data?.error_code, 'SESSION_REQUIRED', `B still answers the ended session: ${onB.text}`);
    // The audit's COPY went through the pooler too.
    await a.services.audit.flush();
    const [{ n }] = await a.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_access_log where method = 'me'`;
    assert.ok(n >= 20, `audit rows for me: ${n}`);
  } finally {
    for (const t of started) await t.close();
    await bouncer.stop();
    await pg.stop();
  }
}

if (PGBOUNCER_BIN) {
  testIn(test, 'real', NAME, lifecycle);
} else {
  test.skip(`${NAME} (pgbouncer is not installed)`, lifecycle);
  console.log(`${SKIP_MARK}${NAME} (pgbouncer is not installed)`);
}

test.run();
