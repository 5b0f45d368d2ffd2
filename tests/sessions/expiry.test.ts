// Session expiry and the two stores: the idle timeout (sliding TTL in the cache, lazy last_activity in
// PostgreSQL), the security JWT's absolute lifetime, restoring from PostgreSQL after the cache lost
// the key, and the security-token checks (missing, tampered, uid mismatch). Each scenario asserts the
// catalogue error, the api_sessions row and the cache key it leaves behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import jwt from 'jsonwebtoken';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { loggedIn, newUser } from '../support/fixtures.ts';
import { cacheKeyOf, hashOf } from '../../server/sessions/sessionId.ts';
import { signSecurityToken, type SecurityClaims } from '../../server/sessions/securityToken.ts';
import { secondOf, waitOutTtl } from '../support/waits.ts';

/** idle 2 s: the idle timeout itself, and sliding. */
let fast: TestTether;
/** absolute 2 s, idle 60 s: the security JWT runs out first. */
let short: TestTether;
/** idle 30 s (last_activity written at most every 3 s): restore, token checks, lazy last_activity. */
let t: TestTether;

test.before(async () => {
  [fast, short, t] = await Promise.all([
    startTestTether({ SESSION_IDLE_TIMEOUT: '2', SWEEP_INTERVAL: '0' }),
    startTestTether({ SESSION_IDLE_TIMEOUT: '60', SESSION_ABSOLUTE_TIMEOUT: '2', SWEEP_INTERVAL: '0' }),
    startTestTether({ SESSION_IDLE_TIMEOUT: '30', SWEEP_INTERVAL: '0' }),
  ]);
});
test.after(async () => {
  await Promise.all([fast, short, t].map((x) => x?.close()));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Row {
  id: number;
  user_id: number;
  is_active: boolean;
  logout_at: Date | null;
  end_reason: string | null;
  last_activity: Date;
  login_at: Date;
  expires_at: Date;
  security_token: string | null;
}

async function rowOf(x: TestTether, sessionId: string): Promise<Row> {
  const [row] = await x.services.db.sql<Row[]>`
    select id, user_id, is_active, logout_at, end_reason, last_activity, login_at, expires_at, security_token
      from api_sessions where session_hash = ${hashOf(sessionId)}`;
  assert.ok(row, 'the api_sessions row exists');
  return { ...row, id: Number(row.id), user_id: Number(row.user_id) };
}

/** Polls (bounded) until `check` holds; answers its last value. Work done off the request path lands a moment later. */
async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, ms = 3000): Promise<T> {
  const until = Date.now() + ms;
  let value = await read();
  while (!check(value) && Date.now() < until) {
    await sleep(50);
    value = await read();
  }
  return value;
}

const keyOf = (sessionId: string) => cacheKeyOf(hashOf(sessionId));

/** A catalogue error on /jsonrpc: HTTP 200, the status in the body. */
function assertError(res: { status: number; body: any }, errorCode: string, message: string, status = 401) {
  assert.is(res.status, 200, 'JSON-RPC answers are HTTP 200 on /jsonrpc');
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

/** Replaces a session's security token in PostgreSQL and drops its cache key, so the next call reads the row. */
async function setRowToken(x: TestTether, sessionId: string, token: string | null) {
  await x.services.db.sql`update api_sessions set security_token = ${token} where session_hash = ${hashOf(sessionId)}`;
  await x.services.cache.del(keyOf(sessionId));
}

test('idle past the timeout: Session expired, the row ended "idle", a tombstone in the cache', async () => {
  const s = await loggedIn(fast);
  assertOk(await s.call('me'));
  const lastCall = Date.now();
  const before = await rowOf(fast, s.sessionId);
  // The idle timeout (2 s) must run out for real: past the last call's second + 2, and the cache key
  // gone by its own TTL (not deleted by the test).
  await waitOutTtl('the idle timeout', secondOf(lastCall) + 2, async () => (await fast.services.cache.get(keyOf(s.sessionId))) === null);

  const res = await s.call('me');
  assertError(res, 'SESSION_EXPIRED', 'Session expired');
  assert.is(res.body.error.data.reason, 'idle');
  assert.is(res.body.error.data.session_timeout, 2);

  const row = await rowOf(fast, s.sessionId);
  assert.is(row.is_active, false);
  assert.is(row.end_reason, 'idle');
  assert.is(row.logout_at, null, 'an idle end is not a logout');
  assert.is(row.expires_at.getTime(), before.expires_at.getTime(), 'the absolute end is untouched');
  assert.ok(row.last_activity.getTime() <= before.last_activity.getTime() + 1000, 'no activity recorded after the last call');
  assert.is(await fast.services.cache.get(keyOf(s.sessionId)), '!idle', 'a tombstone, not a live entry');

  // Still expired (not "required") on the next try: the row remembers why it ended.
  const again = await s.call('me');
  assertError(again, 'SESSION_EXPIRED', 'Session expired');
  assert.ok(fast.logsMatching(`[SESSION EXPIRED] session ${s.sessionId.slice(0, 8)}...`).length >= 1, 'the expiry is logged with the session prefix');
});

test('activity within the idle window keeps the session alive (sliding TTL)', async () => {
  // Idle 30 s. Instead of racing a short idle timeout with sleeps, the key is left with 2 s to live
  // (a session about to expire) before each call: every valid call must put it back to the full 30 s.
  const s = await loggedIn(t);
  const key = keyOf(s.sessionId);
  for (let i = 0; i < 3; i++) {
    await t.services.cache.set(key, (await t.services.cache.get(key))!, 2);
    assert.ok((await t.services.cache.ttl(key)) <= 2);
    assertOk(await s.call('me'));
    const ttl = await t.services.cache.ttl(key);
    // Back to the idle timeout; the 10 s below it are for a loaded machine, far above the 2 s it had.
    assert.ok(ttl >= 20 && ttl <= 30, `call ${i + 1}: the key slid back to the idle timeout, ttl=${ttl}`);
  }
  const row = await rowOf(t, s.sessionId);
  assert.is(row.is_active, true);
  assert.is(row.end_reason, null);
  assert.is(row.logout_at, null);
});

test('security JWT past its exp (absolute lifetime): Session expired, the row ended "absolute"', async () => {
  const s = await loggedIn(short);
  assertOk(await s.call('me'));
  assert.is(s.login.idle_timeout, 60);
  assert.ok(new Date(s.login.absolute_expires_at).getTime() - Date.now() <= 2000, 'the absolute end is 2 s after login');
  assert.is(s.login.expires_at, s.login.absolute_expires_at, 'the idle deadline never passes the absolute end');
  // The absolute end (the security JWT's exp) must pass for real.
  await waitOutTtl('the absolute end', secondOf(Date.parse(s.login.absolute_expires_at)));

  const res = await s.call('me');
  assertError(res, 'SESSION_EXPIRED', 'Session expired');
  assert.is(res.body.error.data.reason, 'absolute');
  assert.is(short.logsMatching(`[SESSION EXPIRED] JWT token expired for session ${s.sessionId.slice(0, 8)}...`).length, 1, 'the seed\'s "JWT token expired" line');

  const row = await eventually(
    () => rowOf(short, s.sessionId),
    (r) => !r.is_active,
  );
  assert.is(row.is_active, false);
  assert.is(row.end_reason, 'absolute');
  assert.is(row.logout_at, null);
  const key = await eventually(
    () => short.services.cache.get(keyOf(s.sessionId)),
    (v) => v === '!absolute',
  );
  assert.is(key, '!absolute', 'no live cache entry outlives the absolute end');

  const again = await s.call('me');
  assertError(again, 'SESSION_EXPIRED', 'Session expired');
  assert.is(again.body.error.data.reason, 'absolute');
  // The ended session's refusal (from the cache's tombstone, then from the row once the cache lost
  // the key) reports the timeout of its reason: the absolute lifetime (2 s), not the idle one (60 s).
  assert.is(res.body.error.data.session_timeout, 2);
  assert.is(again.body.error.data.session_timeout, 2, 'the tombstone\'s refusal names the absolute lifetime');
  await short.services.cache.del(keyOf(s.sessionId));
  const restored = await s.call('me');
  assertError(restored, 'SESSION_EXPIRED', 'Session expired');
  assert.is(restored.body.error.data.reason, 'absolute');
  assert.is(restored.body.error.data.session_timeout, 2, 'the row\'s refusal names the absolute lifetime');
});

test('cache key deleted (Redis flushed): the next call is restored from PostgreSQL, and the key comes back with the remaining idle time, slid by the next valid call', async () => {
  const s = await loggedIn(t);
  const loginRow = await rowOf(t, s.sessionId);
  // The session was last active 10 s ago (set in the row instead of waiting).
  await t.services.db.sql`update api_sessions set last_activity = now() - interval '10 seconds' where session_hash = ${hashOf(s.sessionId)}`;
  await t.services.cache.del(keyOf(s.sessionId));
  assert.is(await t.services.cache.get(keyOf(s.sessionId)), null);

  // A refused call (another User-Agent) restores the entry but is no activity: its TTL is what was
  // left of the idle time. Idle 30 s, last active 10 s ago: at most 20 s (never the full 30); the
  // lower bound leaves 10 s for a loaded machine between the update and this read.
  const refused = await s.call('me', {}, { 'user-agent': 'Thief/1.0' });
  assert.is(refused.body.error?.data?.error_code, 'SESSION_INVALID', refused.text);
  const restoredTtl = await t.services.cache.ttl(keyOf(s.sessionId));
  assert.ok(restoredTtl <= 20 && restoredTtl >= 10, `restored TTL is the remaining idle time, ttl=${restoredTtl}`);

  // The owner's call is served from the restored entry, and is activity: the full idle time again.
  const res = await s.call('me');
  assertOk(res);
  assert.is(res.body.result.user.id, s.user.id);
  assert.is(res.body.result.session.id, loginRow.id);

  const raw = await t.services.cache.get(keyOf(s.sessionId));
  assert.ok(raw, 'the cache entry is back');
  const entry = JSON.parse(raw!);
  assert.is(entry.uid, s.user.id);
  assert.is(entry.id, loginRow.id);
  assert.is(entry.tok, loginRow.security_token);
  const ttl = await t.services.cache.ttl(keyOf(s.sessionId));
  assert.ok(ttl > 20 && ttl <= 30, `a valid call slides the restored entry to the idle timeout (more than the 20 s left), ttl=${ttl}`);

  const row = await rowOf(t, s.sessionId);
  assert.is(row.is_active, true);
  assert.is(row.end_reason, null);
  assert.is(row.logout_at, null);
  assert.is(row.expires_at.getTime(), loginRow.expires_at.getTime());
  assertOk(await s.call('me'));
});

test('cache key deleted and PostgreSQL last_activity older than the idle timeout: Session expired, the row ended "idle"', async () => {
  const s = await loggedIn(t);
  await t.services.db.sql`update api_sessions set last_activity = now() - make_interval(secs => ${30 + 10}) where session_hash = ${hashOf(s.sessionId)}`;
  const stale = await rowOf(t, s.sessionId);
  await t.services.cache.del(keyOf(s.sessionId));

  const res = await s.call('me');
  assertError(res, 'SESSION_EXPIRED', 'Session expired');
  assert.is(res.body.error.data.reason, 'idle');
  assert.is(res.body.error.data.session_timeout, 30);

  const row = await rowOf(t, s.sessionId);
  assert.is(row.is_active, false);
  assert.is(row.end_reason, 'idle');
  assert.is(row.logout_at, null);
  assert.is(row.last_activity.getTime(), stale.last_activity.getTime(), 'a refused call is not activity');
  assert.is(await t.services.cache.get(keyOf(s.sessionId)), '!idle', 'an expired session is not put back in the cache: a tombstone is');
  assertError(await s.call('me'), 'SESSION_EXPIRED', 'Session expired');
});

test('security token missing in the row (cache key dropped): Session token required, logged with the seed marker', async () => {
  const s = await loggedIn(t);
  await setRowToken(t, s.sessionId, null);
  // The change log marks the entry stale; once applied, the next call reads the row.
  await t.services.changes.sync();

  const res = await s.call('me');
  assertError(res, 'SESSION_TOKEN_REQUIRED', 'Session token required');
  const marker = `[SESSION SECURITY] No JWT token found for session ${s.sessionId.slice(0, 8)}... user_id=${s.user.id}`;
  const lines = t.logsMatching(marker);
  assert.is(lines.length, 1, `one log line with ${marker}`);
  assert.is(lines[0].msg, marker);
  assert.is(lines[0].error_code, 'SESSION_TOKEN_REQUIRED');
  assert.not.ok(JSON.stringify(t.logs).includes(s.sessionId), 'never a whole session id in a log');

  // Nothing ends the session or invents a token: the operator invalidates such rows (seed, issue #5).
  const row = await rowOf(t, s.sessionId);
  assert.is(row.security_token, null);
  assert.is(row.is_active, true);
  assert.is(row.end_reason, null);
  assert.is(row.logout_at, null);
  // The miss restored the entry from the row (the cache write is off the request path: poll for it),
  // and it carries the row's missing token, not an invented one.
  const raw = await eventually(() => t.services.cache.get(keyOf(s.sessionId)), (v) => v?.startsWith('{') === true);
  assert.ok(raw !== null, 'the miss restored the cache entry from the row');
  assert.is(JSON.parse(raw).tok, null, 'the cached entry carries no token either');
  assertError(await s.call('me'), 'SESSION_TOKEN_REQUIRED', 'Session token required');
});

test('security token missing in the cached entry: Session token required', async () => {
  const s = await loggedIn(t);
  const key = keyOf(s.sessionId);
  const entry = JSON.parse((await t.services.cache.get(key))!);
  assert.type(entry.tok, 'string');
  await t.services.cache.set(key, JSON.stringify({ ...entry, tok: null }), 30);

  const res = await s.call('me');
  assertError(res, 'SESSION_TOKEN_REQUIRED', 'Session token required');
  assert.is(t.logsMatching(`[SESSION SECURITY] No JWT token found for session ${s.sessionId.slice(0, 8)}... user_id=${s.user.id}`).length, 1);
  const row = await rowOf(t, s.sessionId);
  assert.type(row.security_token, 'string', 'PostgreSQL still has the token');
  assert.is(row.is_active, true);
  assert.is(row.logout_at, null);
  assert.is(row.end_reason, null);
});

test('a tampered security token in the row: Invalid session token', async () => {
  const s = await loggedIn(t);
  const original = (await rowOf(t, s.sessionId)).security_token!;
  // One character in the middle of the signature (the last one may carry only padding bits).
  const at = original.length - 10;
  const tampered = original.slice(0, at) + (original[at] === 'A' ? 'B' : 'A') + original.slice(at + 1);
  assert.is.not(tampered, original);
  await setRowToken(t, s.sessionId, tampered);
  await t.services.changes.sync();

  const res = await s.call('me');
  assertError(res, 'SESSION_TOKEN_INVALID', 'Invalid session token');
  assert.ok(t.logsMatching(`[SESSION SECURITY] Invalid JWT token for session ${s.sessionId.slice(0, 8)}...`).length >= 1);
  assert.not.ok(JSON.stringify(t.logs).includes(tampered), 'never a token in a log');

  const row = await rowOf(t, s.sessionId);
  assert.is(row.security_token, tampered, 'the server does not rewrite the token');
  assert.is(row.is_active, true);
  assert.is(row.end_reason, null);
  assert.is(row.logout_at, null);
  const raw = await eventually(() => t.services.cache.get(keyOf(s.sessionId)), (v) => v?.startsWith('{') === true);
  assert.ok(raw !== null, 'the miss restored the cache entry from the row');
  assert.is(JSON.parse(raw).tok, tampered, 'the cached entry holds the row\'s token as it is');
});

test('uid mismatch (security token signed for another user): Session validation failed, UID MISMATCH logged', async () => {
  const s = await loggedIn(t);
  const other = await newUser(t);
  const original = (await rowOf(t, s.sessionId)).security_token!;
  const claims = jwt.decode(original) as SecurityClaims;
  assert.is(claims.uid, s.user.id);
  assert.is(claims.sid, hashOf(s.sessionId));
  // Properly signed with the session key, for this session and client, with the login's fingerprint: only uid differs.
  const forged = signSecurityToken(t.services.keys.session, { uid: other.id, sid: claims.sid, cid: claims.cid, fingerprint: claims.fingerprint }, 3600);
  await setRowToken(t, s.sessionId, forged);

  const res = await s.call('me');
  assertError(res, 'SESSION_INVALID', 'Session validation failed');
  const lines = t.logsMatching('[SESSION HIJACKING DETECTED - UID MISMATCH]');
  const line = lines.find((l) => l.session === s.sessionId.slice(0, 8));
  assert.ok(line, 'a UID MISMATCH line for this session');
  assert.is(line!.msg, '[SESSION HIJACKING DETECTED - UID MISMATCH]');
  assert.is(line!.user_id, s.user.id);
  assert.is(line!.token_uid, other.id);
  assert.ok(String(line!.request_id).startsWith('req_'));

  const row = await rowOf(t, s.sessionId);
  assert.is(row.user_id, s.user.id);
  assert.is(row.is_active, true, 'a refused validation does not end the session');
  assert.is(row.end_reason, null);
  assert.is(row.logout_at, null);
});

test('PostgreSQL last_activity is written lazily: not on every call, once the interval has passed, then not again within it', async () => {
  // Idle 30 s: last_activity is written at most every max(1, min(60, 30/10)) = 3 s. The server decides
  // from the recorded activity in the cache entry (`la`) and, when it writes PostgreSQL, moves `la` in
  // the same step. Reading the entry through this process's cache client comes after that write on the
  // same connection, so `la` tells, without a sleep, whether a PostgreSQL write was issued.
  const s = await loggedIn(t);
  const key = keyOf(s.sessionId);
  const entryLa = async () => JSON.parse((await t.services.cache.get(key))!).la as number;
  const login = await rowOf(t, s.sessionId);
  assert.is(login.last_activity.getTime(), login.login_at.getTime());
  const loginLa = await entryLa();

  // Calls right after the login (well within the 3 s; each takes milliseconds): nothing written.
  assertOk(await s.call('me'));
  assertOk(await s.call('me'));
  assert.is(await entryLa(), loginLa, 'calls within the interval issue no write');
  assert.is((await rowOf(t, s.sessionId)).last_activity.getTime(), login.login_at.getTime(), 'calls within the interval write nothing');

  // Past the interval: the last recorded activity is set 10 s back, in the entry and the row, instead
  // of waiting. The next call writes once, off the request path.
  const entry = JSON.parse((await t.services.cache.get(key))!);
  const tenSecondsBack = new Date((entry.la - 10) * 1000);
  await t.services.db.sql`update api_sessions set last_activity = ${tenSecondsBack} where session_hash = ${hashOf(s.sessionId)}`;
  await t.services.cache.set(key, JSON.stringify({ ...entry, la: entry.la - 10 }), 30);
  assertOk(await s.call('me'));
  const touchedLa = await entryLa();
  assert.ok(touchedLa >= loginLa, 'the call recorded new activity in the entry');
  const touched = await eventually(
    () => rowOf(t, s.sessionId),
    (r) => r.last_activity.getTime() !== tenSecondsBack.getTime(),
  );
  assert.is(touched.last_activity.getTime(), touchedLa * 1000, 'last_activity written: the moment the entry records');

  // More calls right after the write: no second write within the interval.
  assertOk(await s.call('me'));
  assertOk(await s.call('me'));
  assert.is(await entryLa(), touchedLa, 'no second write issued within the interval');
  const after = await rowOf(t, s.sessionId);
  assert.is(after.last_activity.getTime(), touched.last_activity.getTime(), 'no second write within the interval');
  assert.is(after.is_active, true);
  assert.is(after.end_reason, null);
  const ttl = await t.services.cache.ttl(keyOf(s.sessionId));
  assert.ok(ttl >= 28 && ttl <= 30, `the cache TTL slid on every call, ttl=${ttl}`);
});

test('a refused call does not slide the idle TTL: a stolen id cannot keep its owner\'s session alive', async () => {
  const s = await loggedIn(t);
  const key = keyOf(s.sessionId);
  // The session has been idle 20 of its 30 s: the cached entry says so and the key has 10 s left.
  const entry = JSON.parse((await t.services.cache.get(key))!);
  entry.la = Math.floor(Date.now() / 1000) - 20;
  await t.services.cache.set(key, JSON.stringify(entry), 10);

  const refused = await s.call('me', {}, { 'user-agent': 'Thief/1.0' });
  assert.is(refused.body.error.message, 'Session validation failed');
  assert.is(refused.body.error.data.error_code, 'SESSION_INVALID');
  const ttl = await eventually(() => t.services.cache.ttl(key), (v) => v <= 10);
  assert.ok(ttl > 0 && ttl <= 10, `TTL after a refused call: ${ttl} (was 10; a slide would make it 30)`);

  // The owner's next valid call slides it as usual.
  const ok = await s.call('me');
  assert.ok(ok.body.result, ok.text);
  assert.ok((await t.services.cache.ttl(key)) > 20, 'a valid call slides the TTL back to the idle timeout');
});

test.run();
