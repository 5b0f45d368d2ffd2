// The background sweeper (SWEEP_INTERVAL) ends sessions nobody calls again, so PostgreSQL, admin.stats
// and the metrics tell the truth without waiting for a call: idle ones with end_reason 'idle', those
// past their absolute end with 'absolute', the cache key dropped. A session in use is never swept and
// a reason already set (logout, revoked, cap) is never rewritten. Retention deletes old audit rows and
// old ended sessions. The sweeper ends every idle session of its database, so in real mode this file
// runs on a throwaway PostgreSQL (with the shared Redis): a 4 s idle timeout on the shared database
// would end the sessions of every other test running at the same time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import postgres from 'postgres';
import { realStores, startTestTether, type TestTether } from '../support/tether.ts';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/throwaway.ts';
import { clientHeaders, loggedIn, newClient, newUser, tokenFor } from '../support/fixtures.ts';
import { cacheKeyOf, hashOf } from '../../server/sessions/sessionId.ts';
import { retention } from '../../server/audit/retention.ts';

let pg: ThrowawayPostgres | undefined;
/** idle 4 s, a sweep every second, at most 2 sessions per user. */
let idle: TestTether;
/** absolute 2 s, idle 60 s, a sweep every second. */
let abs: TestTether;

test.before(async () => {
  let urls: { idle?: string; abs?: string } = {};
  if (realStores) {
    pg = await startThrowawayPostgres();
    const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
    await admin`create database sweep_idle`;
    await admin`create database sweep_abs`;
    await admin.end();
    urls = { idle: pg.urlFor('sweep_idle'), abs: pg.urlFor('sweep_abs') };
  }
  [idle, abs] = await Promise.all([
    startTestTether({ SWEEP_INTERVAL: '1', SESSION_IDLE_TIMEOUT: '4', MAX_SESSIONS_PER_USER: '2', ...(urls.idle ? { DATABASE_URL: urls.idle } : {}) }),
    startTestTether({ SWEEP_INTERVAL: '1', SESSION_IDLE_TIMEOUT: '60', SESSION_ABSOLUTE_TIMEOUT: '2', ...(urls.abs ? { DATABASE_URL: urls.abs } : {}) }),
  ]);
});
test.after(async () => {
  await Promise.all([idle?.close(), abs?.close()]);
  await pg?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const keyOf = (sessionId: string) => cacheKeyOf(hashOf(sessionId));

interface Row {
  id: number;
  is_active: boolean;
  end_reason: string | null;
  ended_at: Date | null;
  logout_at: Date | null;
  last_activity: Date;
}

async function rowOf(x: TestTether, sessionId: string): Promise<Row> {
  const [row] = await x.services.db.sql<Row[]>`select id, is_active, end_reason, ended_at, logout_at, last_activity from api_sessions where session_hash = ${hashOf(sessionId)}`;
  assert.ok(row, 'the api_sessions row exists');
  return { ...row, id: Number(row.id) };
}

/** Polls (bounded generously for a loaded machine) until `check` holds; answers the last value read. */
async function eventually<T>(read: () => Promise<T>, check: (v: T) => boolean, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  let value = await read();
  while (!check(value) && Date.now() < until) {
    await sleep(100);
    value = await read();
  }
  return value;
}

async function metricValue(x: TestTether, series: string): Promise<number> {
  const text = await (await fetch(`${x.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

test('a session nobody calls is ended by the sweeper: end_reason idle, ended_at set, a tombstone in the cache', async () => {
  const s = await loggedIn(idle);
  assert.ok(await idle.services.cache.get(keyOf(s.sessionId)), 'cached at login');
  const loggedInAt = Date.now();
  const row = await eventually(
    () => rowOf(idle, s.sessionId),
    (r) => !r.is_active,
  );
  assert.is(row.is_active, false, 'ended without any call');
  assert.is(row.end_reason, 'idle');
  assert.ok(row.ended_at instanceof Date, 'ended_at set');
  assert.ok(row.ended_at!.getTime() >= loggedInAt - 1000, 'ended after the login');
  assert.is(row.logout_at, null, 'an idle end is not a logout');
  const key = await eventually(
    () => idle.services.cache.get(keyOf(s.sessionId)),
    (v) => v === '!idle',
  );
  assert.is(key, '!idle', 'a tombstone replaced the cache entry');
  // Logged once the sweep's ends are in the cache: the tombstone can be seen a moment before the line.
  const logged = await eventually(
    async () => idle.logsMatching('[SESSION SWEEP] expired sessions ended').length,
    (n) => n >= 1,
  );
  assert.ok(logged >= 1, 'the sweep is logged');
  assert.ok((await metricValue(idle, 'tether_session_expirations_total{reason="idle"}')) >= 1, 'counted as an idle expiration');

  // The owner's next call says why.
  const res = await s.call('me');
  assert.is(res.body.error?.data?.error_code, 'SESSION_EXPIRED', res.text);
  assert.is(res.body.error.data.reason, 'idle');
});

test('a session that keeps calling is not swept', async () => {
  const s = await loggedIn(idle);
  const started = Date.now();
  // Idle is 4 s and the sweeper runs every second: 6 s of calls, one every 150 ms (last_activity is
  // written at most once a second, in whole seconds, so it may trail by a little over a second). Idle
  // is twice the 2 s a call plus that lag may take on a loaded 2-core machine, so a slow call is not
  // mistaken for idleness; what is checked is that calling keeps the session, not how fast.
  while (Date.now() - started < 6000) {
    const res = await s.call('me');
    assert.ok(res.body.result, `still valid after ${Date.now() - started} ms: ${res.text}`);
    await sleep(150);
  }
  const row = await rowOf(idle, s.sessionId);
  assert.is(row.is_active, true);
  assert.is(row.end_reason, null);
  assert.is(row.ended_at, null);
  assert.ok(await idle.services.cache.get(keyOf(s.sessionId)), 'still cached');
});

test('past its absolute end (idle far away): the sweeper ends it with "absolute"', async () => {
  const s = await loggedIn(abs);
  const row = await eventually(
    () => rowOf(abs, s.sessionId),
    (r) => !r.is_active,
  );
  assert.is(row.is_active, false, 'ended without any call');
  assert.is(row.end_reason, 'absolute');
  assert.ok(row.ended_at instanceof Date);
  assert.is(row.logout_at, null);
  assert.is(await eventually(() => abs.services.cache.get(keyOf(s.sessionId)), (v) => v === '!absolute'), '!absolute', 'a tombstone replaced the cache entry');
  // The key also runs out by itself (its TTL is the 2 s lifetime), so the sweep may still be between
  // its UPDATE and its count: read until it agrees, bounded.
  assert.ok((await eventually(() => metricValue(abs, 'tether_session_expirations_total{reason="absolute"}'), (v) => v >= 1)) >= 1);
  assert.is(await metricValue(abs, 'tether_session_expirations_total{reason="idle"}'), 0, 'not counted as idle');
  const res = await s.call('me');
  assert.is(res.body.error?.data?.error_code, 'SESSION_EXPIRED', res.text);
  assert.is(res.body.error.data.reason, 'absolute');
});

test('reasons already set (logout, revoked, cap) are left as they are', async () => {
  const leaver = await loggedIn(idle);
  assert.ok((await leaver.call('users.logout')).body.result);

  const owner = await loggedIn(idle);
  const second = await idle.rpc('users.login', { login: owner.user.login, password: owner.user.password }, owner.headers);
  const secondId: string = second.body.result.session_id;
  const secondRow = await rowOf(idle, secondId);
  assert.is((await owner.call('sessions.revoke', { id: secondRow.id })).body.result?.revoked, 1);

  // MAX_SESSIONS_PER_USER=2: the third login ends the first with "cap".
  const client = await newClient(idle);
  const token = await tokenFor(idle, client);
  const user = await newUser(idle);
  const logins: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await idle.rpc('users.login', { login: user.login, password: user.password }, clientHeaders(token));
    assert.ok(res.body.result, res.text);
    logins.push(res.body.result.session_id);
  }

  const ended = { logout: leaver.sessionId, revoked: secondId, cap: logins[0] };
  const before: Record<string, Row> = {};
  for (const [reason, id] of Object.entries(ended)) {
    before[reason] = await rowOf(idle, id);
    assert.is(before[reason].end_reason, reason);
    assert.ok(before[reason].ended_at instanceof Date);
  }
  // Long enough for the sessions still open here (owner's, the two capped-in ones) to be swept idle.
  const last = await eventually(
    () => rowOf(idle, logins[2]),
    (r) => !r.is_active,
  );
  assert.is(last.end_reason, 'idle', 'the sweeper ran meanwhile');
  // And at least one more sweep, proven by its work rather than waited for: a session put past its
  // absolute end now is ended 'absolute' by the next sweep.
  const marker = await loggedIn(idle);
  await idle.services.db.sql`update api_sessions set expires_at = now() - interval '1 second' where session_hash = ${hashOf(marker.sessionId)}`;
  const swept = await eventually(
    () => rowOf(idle, marker.sessionId),
    (r) => !r.is_active,
  );
  assert.ok(['absolute', 'idle'].includes(String(swept.end_reason)), 'a sweep ran after the ends above');
  for (const [reason, id] of Object.entries(ended)) {
    const after = await rowOf(idle, id);
    assert.is(after.end_reason, reason, `${reason} is kept`);
    assert.is(after.is_active, false);
    assert.is(after.ended_at!.getTime(), before[reason].ended_at!.getTime(), `${reason}: ended_at untouched`);
  }
  assert.ok((await rowOf(idle, leaver.sessionId)).logout_at instanceof Date, 'the logout time stays');
});

test('tether_session_expirations_total{reason="idle"} counts what the sweeper ended', async () => {
  // Every idle end on this server came from this process (sweeper or restore), each counted once.
  // Read until both agree (a sweep may be between its UPDATE and its count), bounded.
  const read = async () => {
    const [{ n }] = await idle.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_sessions where end_reason = 'idle'`;
    return { rows: n, counted: await metricValue(idle, 'tether_session_expirations_total{reason="idle"}') };
  };
  const { rows, counted } = await eventually(read, (v) => v.rows === v.counted, 15_000);
  assert.ok(rows >= 1);
  assert.is(counted, rows, `metric ${counted}, rows ${rows}`);
  assert.ok((await metricValue(idle, 'tether_session_expirations_total{reason="logout"}')) >= 1);
  assert.ok((await metricValue(idle, 'tether_session_expirations_total{reason="revoked"}')) >= 1);
  assert.ok((await metricValue(idle, 'tether_session_expirations_total{reason="cap"}')) >= 1);
});

test('retention (90 days): old audit rows and old ended sessions are deleted, recent ones stay', async () => {
  const x = abs;
  const { sql } = x.services.db;
  const tag = `ret_${Date.now()}`;
  const insertAudit = (requestId: string, daysAgo: number) => sql`
    insert into api_access_log (event_id, at, request_id, method, status, duration_ms)
    values (gen_random_uuid(), now() - make_interval(days => ${daysAgo}), ${requestId}, 'me', 200, 1)`;
  await insertAudit(`${tag}_old`, 100);
  await insertAudit(`${tag}_recent`, 10);

  // Four sessions: ended 100 days ago, ended 10 days ago, logged in 100 days ago and still marked active, and a live one.
  const sessions = await Promise.all([loggedIn(x), loggedIn(x), loggedIn(x), loggedIn(x)]);
  const [oldEnded, recentEnded, oldActive, live] = sessions.map((s) => hashOf(s.sessionId));
  await sql`update api_sessions set is_active = false, end_reason = 'logout', logout_at = now() - interval '100 days', ended_at = now() - interval '100 days' where session_hash = ${oldEnded}`;
  await sql`update api_sessions set is_active = false, end_reason = 'logout', logout_at = now() - interval '10 days', ended_at = now() - interval '10 days' where session_hash = ${recentEnded}`;
  await sql`update api_sessions set login_at = now() - interval '100 days', last_activity = now() - interval '100 days' where session_hash = ${oldActive}`;

  const prune = retention({ sql, store: x.services.sessionRows, log: x.services.log, days: 90 });
  const result = await prune();
  assert.ok(result.audit_rows >= 1, `audit rows deleted: ${result.audit_rows}`);
  assert.ok(result.sessions >= 1, `sessions deleted: ${result.sessions}`);

  const audit = await sql<{ request_id: string }[]>`select request_id from api_access_log where request_id like ${tag + '%'}`;
  assert.equal(audit.map((r) => r.request_id), [`${tag}_recent`]);
  const [{ n: old }] = await sql<{ n: number }[]>`select count(*)::int as n from api_access_log where at < now() - interval '90 days'`;
  assert.is(old, 0, 'nothing older than 90 days is left');
  const left = await sql<{ session_hash: string }[]>`select session_hash from api_sessions where session_hash in ${sql([oldEnded, recentEnded, oldActive, live])}`;
  const kept = new Set(left.map((r) => r.session_hash));
  assert.not.ok(kept.has(oldEnded), 'the session ended 100 days ago is deleted');
  assert.ok(kept.has(recentEnded), 'the session ended 10 days ago stays');
  assert.ok(kept.has(oldActive), 'a session not ended 100 days ago stays (if the sweeper ends it now, it is with today\'s date)');
  assert.ok(kept.has(live), 'the live session stays');
  // This server's own rows (logins just now) stay too: written once the audit queue is flushed (it is
  // written every 200 ms, which a loaded machine can stretch past this point).
  await x.services.audit.flush();
  const [{ n: recent }] = await sql<{ n: number }[]>`select count(*)::int as n from api_access_log where at > now() - interval '1 hour'`;
  assert.ok(recent >= 4, `audit rows of the last hour: ${recent}`);

  // RETENTION_DAYS=0 keeps everything.
  assert.equal(await retention({ sql, store: x.services.sessionRows, log: x.services.log, days: 0 })(), { audit_partitions: 0, audit_rows: 0, sessions: 0, session_events: 0 });
});

test.run();
