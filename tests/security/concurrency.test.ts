// Every end is final and every limit holds when calls arrive together (batches and parallel requests
// over real HTTP, each race repeated 20 times), on the stores the environment names (real PostgreSQL
// and Redis, or the embedded pair). Then, on real PostgreSQL only, two instances with in-process caches
// (no Redis): an end or a privilege change on one reaches the other through the change log.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { testIn } from '../support/modes.ts';
import { loggedIn, newClient, newUser, tokenFor, clientHeaders } from '../support/fixtures.ts';
import { cacheKeyOf, hashOf } from '../../server/sessions/sessionId.ts';
import { eventually } from '../faults/load.ts';

const TRIES = 20;
let t: TestTether;

test.before(async () => {
  t = await startTestTether({ MAX_SESSIONS_PER_USER: '3' });
});
test.after(async () => {
  await t.close();
});

const batch = (sessionId: string, methods: string[], params: Record<string, unknown>[] = []) =>
  methods.map((method, i) => ({ jsonrpc: '2.0', id: i + 1, method, params: { session_id: sessionId, ...(params[i] ?? {}) } }));

async function rowOf(x: TestTether, sessionId: string) {
  const [row] = await x.services.db.sql<{ is_active: boolean; end_reason: string | null }[]>`select is_active, end_reason from api_sessions where session_hash = ${hashOf(sessionId)}`;
  return row;
}

function assertRefused(res: { body: any }, what: string) {
  assert.is(res.body?.error?.data?.error_code, 'SESSION_REQUIRED', `${what}: ${JSON.stringify(res.body)}`);
  assert.is(res.body.error.message, 'Session required');
}

test(`[users.logout, sessions.refresh] in one batch, then me: refused every time (${TRIES} tries); the row ended, a tombstone in the cache`, async () => {
  const client = await newClient(t);
  for (let i = 0; i < TRIES; i++) {
    const s = await loggedIn(t, { client });
    const res = await t.post('/jsonrpc', batch(s.sessionId, ['users.logout', 'sessions.refresh', 'me', 'sessions.refresh']), s.headers);
    assert.is(res.status, 200);
    assertRefused(await s.call('me'), `try ${i}`);
    const row = await rowOf(t, s.sessionId);
    assert.is(row.is_active, false);
    assert.is(row.end_reason, 'logout');
    assert.is(await t.services.cache.get(cacheKeyOf(hashOf(s.sessionId))), '!logout');
  }
});

test(`logout and refresh as parallel requests: refused afterwards (${TRIES} tries)`, async () => {
  const client = await newClient(t);
  for (let i = 0; i < TRIES; i++) {
    const s = await loggedIn(t, { client });
    await Promise.all([s.call('sessions.refresh'), s.call('users.logout'), s.call('sessions.refresh'), s.call('me')]);
    assertRefused(await s.call('me'), `try ${i}`);
  }
});

test(`sessions.revoke {all_others} while the other session sends batches of sessions.refresh: none survives (${TRIES} tries)`, async () => {
  const client = await newClient(t);
  for (let i = 0; i < TRIES; i++) {
    const keeper = await loggedIn(t, { client });
    const other = await t.rpc('users.login', { login: keeper.user.login, password: keeper.user.password }, keeper.headers);
    const otherId: string = other.body.result.session_id;
    const refreshes = () => t.post('/jsonrpc', batch(otherId, ['sessions.refresh', 'sessions.refresh', 'me', 'sessions.refresh']), keeper.headers);
    const [revoked] = await Promise.all([keeper.call('sessions.revoke', { all_others: true }), refreshes(), refreshes(), refreshes()]);
    assert.is(revoked.body.result?.revoked, 1, revoked.text);
    assertRefused(await t.rpc('me', { session_id: otherId }, keeper.headers), `try ${i}`);
    assert.ok((await keeper.call('me')).body.result);
  }
});

test(`a user disabled while logins are in flight keeps no working session (${TRIES} tries)`, async () => {
  const client = await newClient(t);
  const token = await tokenFor(t, client);
  for (let i = 0; i < TRIES; i++) {
    const user = await newUser(t);
    const logins = Array.from({ length: 3 }, () => t.rpc('users.login', { login: user.login, password: user.password }, clientHeaders(token)));
    const disable = (async () => {
      const row = await t.services.users.setActive(user.login, false);
      await t.services.sessions.endAllOfUser(row!.id, 'user_disabled');
    })();
    const answers = await Promise.all([...logins, disable]);
    for (const a of answers.slice(0, 3) as { body: any }[]) {
      const sid = a.body?.result?.session_id;
      if (sid) assert.is((await t.rpc('me', { session_id: sid }, clientHeaders(token))).body.result, undefined, `try ${i}: a session opened during the disable works`);
    }
    const [{ n }] = await t.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_sessions where user_id = ${user.id} and is_active`;
    assert.is(n, 0, `try ${i}: an active row for a disabled user`);
  }
});

// 5 at once: the login throttle lets at most LOGIN_MAX_FAILURES_PER_LOGIN (5) attempts of one account be in flight.
test(`MAX_SESSIONS_PER_USER=3: 5 concurrent logins leave at most 3 working sessions (${TRIES} tries)`, async () => {
  const client = await newClient(t);
  const token = await tokenFor(t, client);
  for (let i = 0; i < TRIES; i++) {
    const user = await newUser(t);
    const answers = await Promise.all(Array.from({ length: 5 }, () => t.rpc('users.login', { login: user.login, password: user.password }, clientHeaders(token))));
    for (const a of answers) assert.ok(a.body.result?.session_id, `try ${i}: ${a.text}`);
    const ids = answers.map((a) => a.body.result.session_id as string);
    const working = (await Promise.all(ids.map((sid) => t.rpc('me', { session_id: sid }, clientHeaders(token))))).filter((r) => r.body.result !== undefined);
    assert.is(working.length, 3, `try ${i}: ${working.length} working sessions`);
    const [{ n }] = await t.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_sessions where user_id = ${user.id} and is_active`;
    assert.is(n, 3);
  }
});

test('privilege changes take effect at the next call: admin flag taken, scope removed', async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  assert.ok((await admin.call('admin.stats')).body.result);
  await t.services.users.setAdmin(admin.user.login, false);
  const refused = await admin.call('admin.stats');
  assert.is(refused.body.error?.data.error_code, 'FORBIDDEN', refused.text);
  assert.is(refused.body.error.message, 'Forbidden');
  await t.services.users.setAdmin(admin.user.login, true);
  assert.ok((await admin.call('admin.stats')).body.result, 'given back: accepted again');
  await t.services.clients.setScopes(admin.client.id, []);
  const noScope = await admin.call('admin.stats');
  assert.is(noScope.body.error?.data.error_code, 'FORBIDDEN', noScope.text);
  assert.match(noScope.body.error.data.detail, /scope "admin"/);
});

test('admin.users.set_admin and admin.clients.set_scopes over JSON-RPC reach the target at its next call', async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const other = await loggedIn(t, { admin: true, scopes: ['admin'] });
  assert.ok((await other.call('admin.stats')).body.result);
  const set = await admin.call('admin.users.set_admin', { user_id: other.user.id, is_admin: false });
  assert.equal(set.body.result, { user_id: other.user.id, login: other.user.login, is_admin: false });
  assert.is((await other.call('admin.stats')).body.error?.data.error_code, 'FORBIDDEN');
  const scopes = await admin.call('admin.clients.set_scopes', { client_id: admin.client.id, scopes: [] });
  assert.equal(scopes.body.result, { client_id: admin.client.id, scopes: [] });
  assert.is((await admin.call('admin.stats')).body.error?.data.error_code, 'FORBIDDEN');
  const fresh = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const invalid = await fresh.call('admin.users.set_admin', { user_id: other.user.id, is_admin: 'yes' });
  assert.is(invalid.body.error?.code, -32602, invalid.text);
  const missing = await fresh.call('admin.users.set_admin', { user_id: 2 ** 52, is_admin: true });
  assert.is(missing.body.error?.data.error_code, 'NOT_FOUND', missing.text);
});

test('a revoked client and a disabled user are refused at the next call, though the cache held them as fine', async () => {
  const s = await loggedIn(t);
  assert.ok((await s.call('me')).body.result);
  await t.services.clients.setActive(s.client.id, false);
  const res = await s.call('me');
  assert.is(res.body.error?.data.error_code, 'TOKEN_REVOKED', res.text);
  const u = await loggedIn(t);
  assert.ok((await u.call('me')).body.result);
  await t.services.users.setActive(u.user.login, false); // no session end: the live user state alone refuses
  assertRefused(await u.call('me'), 'disabled user');
});

// Needs DATABASE_URL: an embedded database is one server's (tests/cli-embedded covers the CLI beside one).
testIn(test, 'real', 'two instances with in-process caches on one PostgreSQL (no Redis): ends and privilege changes reach the other through the change log', async () => {
  const a = await startTestTether({ REDIS_URL: '' });
  const b = await startTestTether({ REDIS_URL: '' });
  try {
    assert.is(a.services.cache.kind, 'memory');
    for (let i = 0; i < TRIES; i++) {
      const s = await loggedIn(a);
      const onB = () => b.rpc('me', { session_id: s.sessionId }, s.headers);
      assert.ok((await onB()).body.result, 'B restored it and holds it in its own cache');
      assert.ok((await s.call('users.logout')).body.result);
      // The notification is sent at A's commit and applied by B when it reads it, within milliseconds;
      // a call racing it on B can still pass (the README says so). Polled with a generous bound.
      assert.ok(await eventually(5000, async () => (await onB()).body?.error?.data?.error_code === 'SESSION_REQUIRED'), `try ${i}: logout on A never reached B`);
    }
    const admin = await loggedIn(a, { admin: true, scopes: ['admin'] });
    const onB = (method: string) => b.rpc(method, { session_id: admin.sessionId }, admin.headers);
    assert.ok((await onB('admin.stats')).body.result);
    await a.services.users.setAdmin(admin.user.login, false);
    assert.ok(await eventually(5000, async () => (await onB('admin.stats')).body.error?.data.error_code === 'FORBIDDEN'), 'admin flag taken on A reaches B');
    await a.services.clients.setActive(admin.client.id, false);
    assert.ok(await eventually(5000, async () => (await onB('me')).body.error?.data.error_code === 'TOKEN_REVOKED'), 'client revoked on A reaches B');
  } finally {
    await Promise.allSettled([a.close(), b.close()]);
  }
});

test.run();
