// Two Tether instances on one PostgreSQL and one Redis, each with its own Redis client (a throwaway
// redis-server and an initdb'd PostgreSQL in every mode: with the in-process cache two instances would
// not share a cache). A session opened on A works on B; a logout or a revoke on either is refused on
// the other on the very next call, also while the other is under load; a bearer revoked on one is
// refused on the other at once (the revocation is written to the shared Redis after its commit).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { startThrowawayPostgres, startThrowawayRedis, type ThrowawayPostgres, type ThrowawayRedis } from '../support/throwaway.ts';
import { loggedIn } from '../support/fixtures.ts';
import { callAt, fmt, sleep, startLoad, storesEnv, tally } from './load.ts';

let pg: ThrowawayPostgres;
let redis: ThrowawayRedis;
let a: TestTether;
let b: TestTether;

test.before(async () => {
  [pg, redis] = await Promise.all([startThrowawayPostgres(), startThrowawayRedis()]);
  a = await startTestTether(storesEnv(pg.url, redis.url));
  b = await startTestTether(storesEnv(pg.url, redis.url));
});
test.after(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
  await Promise.allSettled([redis?.stop(), pg?.stop()]);
});

const on = (t: TestTether, s: { sessionId: string; headers: Record<string, string> }, method = 'me', params: Record<string, unknown> = {}) =>
  callAt(t.url, method, { session_id: s.sessionId, ...params }, s.headers, 'two');

test('separate instances with separate Redis clients on the same stores', () => {
  assert.is.not(a.url, b.url);
  assert.is.not(a.services.cache, b.services.cache);
  assert.is(a.services.cache.kind, 'redis');
  assert.is(b.services.cache.kind, 'redis');
});

test('a session opened on A works on B, and one opened on B works on A', async () => {
  const onA = await loggedIn(a);
  const res = await on(b, onA);
  assert.is(res.status, 200, JSON.stringify(res.body));
  assert.is(res.body.result.user.id, onA.user.id);
  const login = await callAt(b.url, 'users.login', { login: onA.user.login, password: onA.user.password }, onA.headers, 'two');
  const onB = { sessionId: login.body.result.session_id as string, headers: onA.headers };
  assert.is((await on(a, onB)).status, 200);
});

test('logout on A under load on B: every call on B sent after the logout answered is refused', async () => {
  const s = await loggedIn(a);
  assert.is((await on(b, s)).status, 200);
  // The load runs until stopped: the logout goes out once B has answered 20 calls, and the load stops
  // once 20 calls were sent after the logout answered (events, not fixed waits: on a loaded machine a
  // fixed window ran out before any call followed the logout).
  const load = startLoad({ workers: 10, ms: 120_000, call: () => on(b, s) });
  const until = async (what: string, check: () => boolean) => {
    for (const end = Date.now() + 60_000; !check(); await sleep(10)) if (Date.now() > end) assert.unreachable(`not within 60 s: ${what}`);
  };
  await until('B answers the load', () => load.outcomes.filter((o) => o.status === 200).length >= 20);
  const logoutStarted = Date.now();
  const logout = await on(a, s, 'users.logout');
  const logoutDone = Date.now();
  const next = await on(b, s); // the very next call
  await until('20 calls sent after the logout answered', () => load.outcomes.filter((o) => o.started > logoutDone).length >= 20);
  load.stop();
  const outcomes = await load.done;
  const before = outcomes.filter((o) => o.ended < logoutStarted);
  const after = outcomes.filter((o) => o.started > logoutDone);
  console.log(`[two-instances] logout on A while B served ${outcomes.length} calls: before ${fmt(tally(before))}; sent after the logout answered ${fmt(tally(after))}`);
  assert.is(logout.body?.result?.logged_out, true);
  assert.is(next.status, 401);
  assert.is(next.errorCode, 'SESSION_REQUIRED');
  assert.ok(before.length > 0 && before.every((o) => o.status === 200), `before the logout: ${fmt(tally(before))}`);
  assert.ok(after.length > 0 && after.every((o) => o.status === 401 && o.errorCode === 'SESSION_REQUIRED'), `after the logout: ${fmt(tally(after))}`);
  assert.is((await on(a, s)).errorCode, 'SESSION_REQUIRED', 'and on A too');
});

test('logout on B is refused on A on the very next call', async () => {
  const s = await loggedIn(a);
  assert.is((await on(a, s)).status, 200);
  assert.is((await on(b, s, 'users.logout')).body?.result?.logged_out, true);
  const next = await on(a, s);
  assert.is(next.status, 401);
  assert.is(next.errorCode, 'SESSION_REQUIRED');
});

test('sessions.revoke on B ends a session used on A: refused on A on the very next call', async () => {
  const s = await loggedIn(a);
  const me = await on(a, s);
  const id = me.body.result.session.id as number;
  const login = await callAt(b.url, 'users.login', { login: s.user.login, password: s.user.password }, s.headers, 'two');
  const other = { sessionId: login.body.result.session_id as string, headers: s.headers };
  const revoke = await on(b, other, 'sessions.revoke', { id });
  assert.is(revoke.body?.result?.revoked, 1, JSON.stringify(revoke.body));
  const next = await on(a, s);
  assert.is(next.status, 401);
  assert.is(next.errorCode, 'SESSION_REQUIRED');
  assert.is((await on(a, other)).status, 200, 'the revoking session still works on A');
});

test('sessions.revoke all_others on A: the others are refused on B at once', async () => {
  const s = await loggedIn(a);
  const logins = await Promise.all(
    [1, 2, 3].map(() => callAt(b.url, 'users.login', { login: s.user.login, password: s.user.password }, s.headers, 'two')),
  );
  const others = logins.map((l) => ({ sessionId: l.body.result.session_id as string, headers: s.headers }));
  for (const o of others) assert.is((await on(b, o)).status, 200);
  assert.is((await on(a, s, 'sessions.revoke', { all_others: true })).body?.result?.revoked, 3);
  for (const o of others) assert.is((await on(b, o)).errorCode, 'SESSION_REQUIRED');
  assert.is((await on(b, s)).status, 200);
});

test('a bearer token revoked on A is refused on B on the very next call', async () => {
  const s = await loggedIn(a);
  assert.is((await on(b, s)).status, 200);
  const res = await fetch(a.url + '/api/v1/auth/revoke', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: s.client.id, client_secret: s.client.secret, token: s.token }),
  });
  assert.is(res.status, 200);
  const next = await on(b, s);
  assert.is(next.status, 401);
  assert.is(next.errorCode, 'TOKEN_REVOKED');
});

test.run();
