// Session lifecycle: login creates the row and the cache key, logout ends both, me keeps the session
// alive, sessions.refresh restarts the idle clock (never the absolute lifetime), sessions.list and
// sessions.revoke, and the per-user cap. Each scenario asserts the error, the api_sessions row and the
// cache key it leaves behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { clientHeaders, LANG, loggedIn, UA, type Headers } from '../support/fixtures.ts';
import { cacheKeyOf, hashOf, newSessionId } from '../../server/sessions/sessionId.ts';
import { secondOf, waitForSecondAfter } from '../support/waits.ts';

/** Defaults: idle 7200 s, absolute 86400 s, 10 sessions per user. */
let t: TestTether;
let cap2: TestTether;
/** One session per user; idle 60 s but an absolute lifetime of 20 s: the idle deadline is capped by the absolute end. */
let cap1: TestTether;

test.before(async () => {
  [t, cap2, cap1] = await Promise.all([
    startTestTether({ SWEEP_INTERVAL: '0' }),
    startTestTether({ MAX_SESSIONS_PER_USER: '2', SWEEP_INTERVAL: '0' }),
    startTestTether({ MAX_SESSIONS_PER_USER: '1', SESSION_IDLE_TIMEOUT: '60', SESSION_ABSOLUTE_TIMEOUT: '20', SWEEP_INTERVAL: '0' }),
  ]);
});
test.after(async () => {
  await Promise.all([t, cap2, cap1].map((x) => x?.close()));
});

const keyOf = (sessionId: string) => cacheKeyOf(hashOf(sessionId));
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

interface Row {
  id: number;
  session_hash: string;
  user_id: number;
  client_id: string;
  security_token: string | null;
  ip: string;
  user_agent: string;
  accept_language: string;
  is_active: boolean;
  logout_at: Date | null;
  end_reason: string | null;
  last_activity: Date;
  login_at: Date;
  expires_at: Date;
}

async function rowOf(x: TestTether, sessionId: string): Promise<Row> {
  const [row] = await x.services.db.sql<Row[]>`
    select id, session_hash, user_id, client_id, security_token, ip, user_agent, accept_language, is_active, logout_at,
           end_reason, last_activity, login_at, expires_at
      from api_sessions where session_hash = ${hashOf(sessionId)}`;
  assert.ok(row, 'the api_sessions row exists');
  return { ...row, id: Number(row.id), user_id: Number(row.user_id) };
}

function assertError(res: { status: number; body: any }, errorCode: string, message: string, status = 401, httpStatus = 200) {
  assert.is(res.status, httpStatus);
  assert.ok(res.body?.error, `an error, got ${JSON.stringify(res.body)}`);
  assert.is(res.body.error.message, message);
  assert.is(res.body.error.status, status);
  assert.is(res.body.error.data.error_code, errorCode);
  assert.is(res.body.error.data.status, status);
}

function assertOk(res: { status: number; body: any }) {
  assert.is(res.status, 200);
  assert.ok(res.body?.result, `a result, got ${JSON.stringify(res.body)}`);
}

type Session = Awaited<ReturnType<typeof loggedIn>>;

/** Another session of the same user (same OAuth client), optionally from another user agent. */
async function again(x: TestTether, s: Session, headers: Headers = s.headers) {
  const res = await x.rpc('users.login', { login: s.user.login, password: s.user.password }, headers);
  const sessionId: string | undefined = res.body?.result?.session_id;
  if (!sessionId) throw new Error(`login failed: ${res.text}`);
  return {
    sessionId,
    login: res.body.result,
    call: (method: string, params: Record<string, unknown> = {}) => x.rpc(method, { session_id: sessionId, ...params }, headers),
  };
}

/** A session that ended: Session required with its reason, the row ended, a tombstone in the cache entry's place. */
async function assertEnded(x: TestTether, sessionId: string, res: { status: number; body: any }, reason: string) {
  assertError(res, 'SESSION_REQUIRED', 'Session required');
  assert.is(res.body.error.data.reason, reason);
  const row = await rowOf(x, sessionId);
  assert.is(row.is_active, false);
  assert.is(row.end_reason, reason);
  if (reason === 'logout') assert.instance(row.logout_at, Date);
  else assert.is(row.logout_at, null, `a session ended for "${reason}" was not logged out`);
  assert.is(await x.services.cache.get(keyOf(sessionId)), `!${reason}`, 'a tombstone replaced the cache entry');
  assert.ok((await x.services.cache.ttl(keyOf(sessionId))) > 0, 'the tombstone expires');
}

async function assertActive(x: TestTether, sessionId: string) {
  const row = await rowOf(x, sessionId);
  assert.is(row.is_active, true);
  assert.is(row.end_reason, null);
  assert.is(row.logout_at, null);
  assert.ok(await x.services.cache.get(keyOf(sessionId)), 'the cache key is there');
}

test('login: result shape, the api_sessions row and the cache key', async () => {
  const before = Date.now();
  const s = await loggedIn(t);
  const r = s.login;
  assert.match(r.session_id, /^[A-Za-z0-9_-]{80}$/, 'session_id is 80 characters of base64url');
  assert.is(Buffer.from(r.session_id, 'base64url').length, 60, '60 random bytes');
  assert.equal(r.user, { id: s.user.id, login: s.user.login, name: 'Test User', is_admin: false });
  assert.is(r.idle_timeout, 7200);
  assert.match(r.expires_at, ISO);
  assert.match(r.absolute_expires_at, ISO);
  const expiresIn = new Date(r.expires_at).getTime() - before;
  assert.ok(expiresIn > 7190_000 && expiresIn <= 7205_000, `expires_at is login + idle timeout (${expiresIn} ms)`);
  const absoluteIn = new Date(r.absolute_expires_at).getTime() - before;
  assert.ok(absoluteIn > 86390_000 && absoluteIn <= 86405_000, `absolute_expires_at is login + 24 h (${absoluteIn} ms)`);

  const row = await rowOf(t, s.sessionId);
  assert.is(row.session_hash, hashOf(s.sessionId));
  assert.is(row.user_id, s.user.id);
  assert.is(row.client_id, s.client.id);
  assert.type(row.security_token, 'string');
  assert.is(row.ip, '127.0.0.1');
  assert.is(row.user_agent, UA);
  assert.is(row.accept_language, LANG);
  assert.is(row.is_active, true);
  assert.is(row.logout_at, null);
  assert.is(row.end_reason, null);
  assert.is(row.last_activity.getTime(), row.login_at.getTime());
  assert.is(row.expires_at.toISOString(), new Date(r.absolute_expires_at).toISOString(), 'the row keeps the absolute end');
  // The raw id is stored nowhere: not in any column of the row.
  const [raw] = await t.services.db.sql`select * from api_sessions where session_hash = ${hashOf(s.sessionId)}`;
  assert.not.ok(JSON.stringify(raw).includes(s.sessionId));

  const cached = await t.services.cache.get(keyOf(s.sessionId));
  assert.ok(cached, 'the cache key exists');
  assert.not.ok(cached!.includes(s.sessionId), 'the cache entry does not hold the raw id');
  const entry = JSON.parse(cached!);
  assert.is(entry.id, row.id);
  assert.is(entry.uid, s.user.id);
  assert.is(entry.cid, s.client.id);
  assert.is(entry.tok, row.security_token);
  const ttl = await t.services.cache.ttl(keyOf(s.sessionId));
  assert.ok(ttl > 7190 && ttl <= 7200, `the key's TTL is the idle timeout, ttl=${ttl}`);
});

test('a session_id sent with the login is ignored (no session fixation)', async () => {
  const s = await loggedIn(t);
  const planted = newSessionId();
  for (const [params, headers] of [
    [{ login: s.user.login, password: s.user.password, session_id: planted }, s.headers],
    [{ login: s.user.login, password: s.user.password }, { ...s.headers, 'x-openerp-session-id': planted }],
    [{ login: s.user.login, password: s.user.password, session_id: s.sessionId }, s.headers],
  ] as const) {
    const res = await t.rpc('users.login', params, headers);
    assertOk(res);
    assert.is.not(res.body.result.session_id, planted);
    assert.is.not(res.body.result.session_id, s.sessionId);
    await assertActive(t, res.body.result.session_id);
  }
  const [planted_row] = await t.services.db.sql`select id from api_sessions where session_hash = ${hashOf(planted)}`;
  assert.is(planted_row, undefined, 'no row for the planted id');
  assert.is(await t.services.cache.get(keyOf(planted)), null, 'no cache key for the planted id');
  const res = await t.rpc('me', { session_id: planted }, s.headers);
  assertError(res, 'SESSION_REQUIRED', 'Session required');
  // The session that was sent along is neither replaced nor ended.
  assertOk(await s.call('me'));
  await assertActive(t, s.sessionId);
});

test('logout, then reuse: Session required; the row ended "logout" with logout_at; a tombstone in the cache', async () => {
  const s = await loggedIn(t);
  const out = await s.call('users.logout');
  assertOk(out);
  assert.is(out.body.result.logged_out, true);
  await assertEnded(t, s.sessionId, await s.call('me'), 'logout');
  const row = await rowOf(t, s.sessionId);
  assert.ok(Math.abs(Date.now() - row.logout_at!.getTime()) < 10_000, 'logout_at is now');
  // Logging out again is refused the same way: the session is gone.
  assertError(await s.call('users.logout'), 'SESSION_REQUIRED', 'Session required');
  assert.ok(t.logsMatching('[LOGOUT] session ended').some((l) => l.session === s.sessionId.slice(0, 8)));
});

test('logout via the Odoo path /api/v1/users/logout', async () => {
  const s = await loggedIn(t);
  const out = await t.odoo('users/logout', { session_id: s.sessionId }, s.headers);
  assert.is(out.status, 200);
  assert.is(out.body.result.logged_out, true);
  const reuse = await t.odoo('me', { session_id: s.sessionId }, s.headers);
  assertError(reuse, 'SESSION_REQUIRED', 'Session required', 401, 401);
  await assertEnded(t, s.sessionId, await s.call('me'), 'logout');
});

test('me returns the user and the session, and keeps the session alive', async () => {
  const s = await loggedIn(t);
  const row = await rowOf(t, s.sessionId);
  // Pretend the session has idled a while: the key has little time left.
  const key = keyOf(s.sessionId);
  await t.services.cache.set(key, (await t.services.cache.get(key))!, 100);
  assert.ok((await t.services.cache.ttl(key)) <= 100);

  const res = await s.call('me');
  assertOk(res);
  const { user, session } = res.body.result;
  assert.equal(user, s.login.user);
  assert.is(session.id, row.id);
  assert.is(session.client_id, s.client.id);
  assert.is(session.login_at, row.login_at.toISOString());
  assert.is(session.absolute_expires_at, s.login.absolute_expires_at);
  assert.is(session.idle_timeout, 7200);
  const expiresIn = new Date(session.expires_at).getTime() - Date.now();
  assert.ok(expiresIn > 7190_000 && expiresIn <= 7200_000, `expires_at is now + idle timeout (${expiresIn} ms)`);
  assert.not.ok(res.text.includes(s.sessionId), 'the answer does not echo the session id');
  const ttl = await t.services.cache.ttl(key);
  assert.ok(ttl > 7190 && ttl <= 7200, `the call slid the key back to the idle timeout, ttl=${ttl}`);
  await assertActive(t, s.sessionId);
});

test('sessions.refresh moves expires_at later, never the absolute lifetime', async () => {
  const s = await loggedIn(t);
  const loginRow = await rowOf(t, s.sessionId);
  // The idle clock counts whole seconds: a refresh moves expires_at once the clock reads a later second
  // than the one the login's expires_at was counted from (the end of the login call).
  await waitForSecondAfter('a second after the login', secondOf(Date.parse(s.login.expires_at)) - 7200);
  const res = await s.call('sessions.refresh');
  assertOk(res);
  const r = res.body.result;
  assert.ok(new Date(r.expires_at).getTime() > new Date(s.login.expires_at).getTime(), 'expires_at moved later');
  assert.is(r.absolute_expires_at, s.login.absolute_expires_at, 'the absolute end is unchanged');
  assert.is(r.idle_timeout, 7200);

  const row = await rowOf(t, s.sessionId);
  assert.is(row.expires_at.getTime(), loginRow.expires_at.getTime(), 'the row keeps its absolute end');
  assert.ok(row.last_activity.getTime() > loginRow.last_activity.getTime(), 'refresh writes last_activity at once');
  assert.is(row.is_active, true);
  assert.is(row.end_reason, null);
  const ttl = await t.services.cache.ttl(keyOf(s.sessionId));
  assert.ok(ttl > 7190 && ttl <= 7200, `ttl=${ttl}`);
  const me = await s.call('me');
  assert.is(me.body.result.session.absolute_expires_at, s.login.absolute_expires_at);
});

test('sessions.refresh near the absolute end: expires_at is capped by it', async () => {
  const s = await loggedIn(cap1);
  // Idle 60 s, absolute 20 s: every deadline is the absolute end.
  assert.is(s.login.expires_at, s.login.absolute_expires_at);
  // Past the login's second: the key's TTL left (absolute end - now, in whole seconds) is then under the
  // 20 s lifetime, so a TTL that ignored the absolute end would show (an uncapped expires_at at any moment).
  await waitForSecondAfter('a second after the login', secondOf(Date.parse(s.login.absolute_expires_at)) - 20);
  const res = await s.call('sessions.refresh');
  assertOk(res);
  assert.is(res.body.result.expires_at, s.login.absolute_expires_at, 'refresh never passes the absolute end');
  assert.is(res.body.result.absolute_expires_at, s.login.absolute_expires_at);
  const row = await rowOf(cap1, s.sessionId);
  assert.is(row.expires_at.toISOString(), s.login.absolute_expires_at);
  assert.is(row.is_active, true);
  const ttl = await cap1.services.cache.ttl(keyOf(s.sessionId));
  assert.ok(ttl >= 1 && ttl <= 19, `the cache key does not outlive the absolute end, ttl=${ttl}`);
});

test('sessions.list: the user\'s active sessions, exactly one current, no session ids', async () => {
  const s = await loggedIn(t);
  const otherUa = 'OtherClient/2.0';
  const second = await again(t, s, clientHeaders(s.token, { 'user-agent': otherUa }));
  const third = await again(t, s);
  assertOk(await third.call('users.logout'));
  const someoneElse = await loggedIn(t, { client: s.client });

  const res = await s.call('sessions.list');
  assertOk(res);
  const list = res.body.result.sessions as any[];
  const mine = await rowOf(t, s.sessionId);
  const secondRow = await rowOf(t, second.sessionId);
  assert.equal(list.map((x) => x.id).sort((a, b) => a - b), [mine.id, secondRow.id].sort((a, b) => a - b), 'the two active sessions, not the logged-out one nor another user\'s');
  assert.equal(list.filter((x) => x.current).map((x) => x.id), [mine.id], 'exactly one current: the caller');
  for (const item of list) {
    assert.equal(Object.keys(item).sort(), ['absolute_expires_at', 'client_id', 'current', 'expires_at', 'id', 'ip', 'last_activity', 'login_at', 'user_agent']);
    assert.is(item.ip, '127.0.0.1');
    assert.is(item.client_id, s.client.id);
    assert.match(item.login_at, ISO);
    assert.match(item.last_activity, ISO);
    assert.match(item.expires_at, ISO);
  }
  const current = list.find((x) => x.current);
  const other = list.find((x) => !x.current);
  assert.is(current.user_agent, s.headers['user-agent']);
  assert.is(other.user_agent, otherUa);
  assert.is(other.login_at, secondRow.login_at.toISOString());
  assert.is(other.last_activity, secondRow.last_activity.toISOString());
  // expires_at is the idle deadline (as in `me`), absolute_expires_at the row's absolute end.
  assert.is(other.expires_at, new Date(secondRow.last_activity.getTime() + 7200_000).toISOString());
  assert.is(other.absolute_expires_at, secondRow.expires_at.toISOString());
  assert.is(current.absolute_expires_at, mine.expires_at.toISOString());
  const currentIn = Date.parse(current.expires_at) - Date.now();
  assert.ok(currentIn > 7100_000 && currentIn <= 7200_000, `the current session's idle deadline is now + idle timeout (${currentIn} ms)`);
  const me = await s.call('me');
  // me counts in whole seconds: the same deadline within a second (or later, me being the later call).
  assert.ok(Date.parse(me.body.result.session.expires_at) > Date.parse(current.expires_at) - 1000, 'me and sessions.list agree on the idle deadline');
  for (const id of [s.sessionId, second.sessionId, third.sessionId, someoneElse.sessionId]) {
    assert.not.ok(res.text.includes(id), 'no raw session id in the answer');
    assert.not.ok(res.text.includes(hashOf(id)), 'no session hash in the answer');
  }
  assert.not.ok(res.text.includes(mine.security_token!), 'no security token in the answer');
});

test('sessions.list: an idle deadline past the absolute end is the absolute end', async () => {
  // cap1: idle 60 s, absolute 20 s.
  const s = await loggedIn(cap1);
  const res = await s.call('sessions.list');
  assertOk(res);
  const [item] = res.body.result.sessions;
  const row = await rowOf(cap1, s.sessionId);
  assert.is(item.absolute_expires_at, row.expires_at.toISOString());
  assert.is(item.expires_at, item.absolute_expires_at);
});

test('sessions.revoke one: that session gets Session required (reason "revoked"), the caller keeps working', async () => {
  const s = await loggedIn(t);
  const other = await again(t, s);
  const otherRow = await rowOf(t, other.sessionId);

  const res = await s.call('sessions.revoke', { id: otherRow.id });
  assertOk(res);
  assert.is(res.body.result.revoked, 1);
  await assertEnded(t, other.sessionId, await other.call('me'), 'revoked');
  assertOk(await s.call('me'));
  await assertActive(t, s.sessionId);

  // Another user's session cannot be revoked by id.
  const stranger = await loggedIn(t, { client: s.client });
  const strangerRow = await rowOf(t, stranger.sessionId);
  const refused = await s.call('sessions.revoke', { id: strangerRow.id });
  assertError(refused, 'NOT_FOUND', 'Not found', 404);
  assertOk(await stranger.call('me'));
  await assertActive(t, stranger.sessionId);
});

test('sessions.revoke all_others: the others end, the current one still works', async () => {
  const s = await loggedIn(t);
  const b = await again(t, s);
  const c = await again(t, s);
  const stranger = await loggedIn(t, { client: s.client });

  const res = await s.call('sessions.revoke', { all_others: true });
  assertOk(res);
  assert.is(res.body.result.revoked, 2);
  await assertEnded(t, b.sessionId, await b.call('me'), 'revoked');
  await assertEnded(t, c.sessionId, await c.call('me'), 'revoked');
  assertOk(await s.call('me'));
  await assertActive(t, s.sessionId);
  assertOk(await stranger.call('me'));
  await assertActive(t, stranger.sessionId);
  const list = await s.call('sessions.list');
  assert.is(list.body.result.sessions.length, 1);
});

test('MAX_SESSIONS_PER_USER=2: a third login ends the oldest (Session required, reason "cap")', async () => {
  const a = await loggedIn(cap2);
  const b = await again(cap2, a);
  const stranger = await loggedIn(cap2, { client: a.client });
  assertOk(await a.call('me'));
  const c = await again(cap2, a);

  await assertEnded(cap2, a.sessionId, await a.call('me'), 'cap');
  assertOk(await b.call('me'));
  assertOk(await c.call('me'));
  await assertActive(cap2, b.sessionId);
  await assertActive(cap2, c.sessionId);
  await assertActive(cap2, stranger.sessionId);
  const [{ n }] = await cap2.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_sessions where user_id = ${a.user.id} and is_active`;
  assert.is(n, 2);
  assert.ok(cap2.logsMatching('[SESSION CAP] oldest sessions ended').some((l) => l.user_id === a.user.id));
});

test('MAX_SESSIONS_PER_USER=1: a login ends the user\'s other session', async () => {
  const first = await loggedIn(cap1);
  assertOk(await first.call('me'));
  const second = await again(cap1, first, clientHeaders(first.token, { 'user-agent': 'SecondDevice/1.0' }));
  await assertEnded(cap1, first.sessionId, await first.call('me'), 'cap');
  assertOk(await second.call('me'));
  await assertActive(cap1, second.sessionId);
  const list = await second.call('sessions.list');
  assert.is(list.body.result.sessions.length, 1);
  assert.is(list.body.result.sessions[0].current, true);
});

test('logout on one session does not affect another session of the same user', async () => {
  const s = await loggedIn(t);
  const other = await again(t, s);
  assertOk(await s.call('users.logout'));
  await assertEnded(t, s.sessionId, await s.call('me'), 'logout');
  const res = await other.call('me');
  assertOk(res);
  assert.is(res.body.result.user.id, s.user.id);
  await assertActive(t, other.sessionId);
});

test.run();
