// Account security over real HTTP and the real stores: users.change_password (ends every session, the
// caller gets a new id, also seen by a second instance on the same stores), the admin step-up
// (ADMIN_REAUTH_WINDOW, REAUTH_REQUIRED, sessions.reauthenticate), the password policy, and
// admin.users.* (results against the tables, FORBIDDEN without the admin user or the admin scope).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testIn } from './support/modes.ts';
import { realStores, startTestTether, type TestTether } from './support/tether.ts';
import { clientHeaders, loggedIn, newClient, newUser, tokenFor, unique } from './support/fixtures.ts';
import { cacheKeyOf, hashOf } from '../server/sessions/sessionId.ts';
import { verifyPassword } from '../server/auth/passwords.ts';
import { loadConfig } from '../server/config.ts';

const MAX_FAILURES = 3;
const SHORT_WINDOW = 4;

// `t`: the default step-up window (900 s). `short`: ADMIN_REAUTH_WINDOW=4 s; in real mode it shares
// t's PostgreSQL and Redis (a second instance), embedded it has stores of its own.
let t: TestTether;
let short: TestTether;
test.before(async () => {
  t = await startTestTether({ LOGIN_MAX_FAILURES_PER_LOGIN: String(MAX_FAILURES) });
  short = await startTestTether({ ADMIN_REAUTH_WINDOW: String(SHORT_WINDOW), LOGIN_MAX_FAILURES_PER_LOGIN: String(MAX_FAILURES) });
});
test.after(async () => {
  await Promise.allSettled([t?.close(), short?.close()]);
});

type Res = Awaited<ReturnType<TestTether['rpc']>>;
type Session = Awaited<ReturnType<typeof loggedIn>>;

const ADMIN_USERS_METHODS = ['admin.users.list', 'admin.users.create', 'admin.users.disable', 'admin.users.enable', 'admin.users.reset_password'];
const NEW_METHODS = ['users.change_password', 'sessions.reauthenticate', ...ADMIN_USERS_METHODS];

const strongPassword = () => `pw-${unique('strong')}-Zq`;

function refused(res: Res, errorCode: string, message: string, status: number) {
  assert.is(res.status, 200, res.text);
  assert.ok(res.body?.error, `expected ${errorCode}, got ${res.text}`);
  assert.is(res.body.error.data.error_code, errorCode, res.text);
  assert.is(res.body.error.message, message, res.text);
  assert.is(res.body.error.status, status, res.text);
  assert.not.ok('result' in res.body);
}
const sessionRequired = (res: Res) => refused(res, 'SESSION_REQUIRED', 'Session required', 401);
const forbidden = (res: Res) => refused(res, 'FORBIDDEN', 'Forbidden', 403);
const reauthRequired = (res: Res) => {
  refused(res, 'REAUTH_REQUIRED', 'Re-authentication required', 401);
  assert.is(res.body.error.code, -32001);
  assert.ok(String(res.body.error.data.detail).includes('sessions.reauthenticate'), res.text);
};
/** -32602 naming the field; `rule` is the password policy's (or the handler's) rule, absent for schema refusals. */
function invalidParams(res: Res, field: string, rule?: string) {
  refused(res, 'INVALID_PARAMS', 'Invalid params', 400);
  assert.is(res.body.error.code, -32602);
  assert.is(res.body.error.data.field, field, res.text);
  assert.is(res.body.error.data.rule, rule, res.text);
}
function ok(res: Res, what = 'a result') {
  assert.is(res.status, 200, res.text);
  assert.ok(res.body?.result, `expected ${what}, got ${res.text}`);
  return res.body.result;
}

/** Another session of the same user (same client and headers), on any instance. */
async function loginAgain(on: TestTether, s: Session, password = s.user.password): Promise<string> {
  const res = await on.rpc('users.login', { login: s.user.login, password }, s.headers);
  return ok(res).session_id;
}
const callWith = (on: TestTether, s: Session, sessionId: string, method = 'me', params: Record<string, unknown> = {}) => on.rpc(method, { session_id: sessionId, ...params }, s.headers);

const rowOf = async (on: TestTether, sessionId: string) =>
  (await on.services.db.sql<{ is_active: boolean; end_reason: string | null; password_proved_at: Date; login_at: Date }[]>`
    select is_active, end_reason, password_proved_at, login_at from api_sessions where session_hash = ${hashOf(sessionId)}`)[0];
/** A live cache entry (an ended session's key holds a tombstone, `!<reason>`, or nothing). */
const cached = async (on: TestTether, sessionId: string) => {
  const value = await on.services.cache.get(cacheKeyOf(hashOf(sessionId)));
  return value !== null && !value.startsWith('!');
};
const userRow = async (on: TestTether, id: number) => (await on.services.db.sql<{ is_active: boolean; password_hash: string; is_admin: boolean; login: string; name: string }[]>`select * from users where id = ${id}`)[0];

async function eventually<T>(probe: () => Promise<T>, done: (v: T) => boolean, what: string, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > until) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('rpc.discover lists every new method with what it requires', async () => {
  const doc = ok(await t.rpc('rpc.discover', {}));
  const byName = new Map<string, { 'x-requires': Record<string, unknown>; params: { name: string }[] }>(doc.methods.map((m: { name: string }) => [m.name, m]));
  for (const name of NEW_METHODS) assert.ok(byName.has(name), `${name} in rpc.discover`);
  assert.equal(byName.get('users.change_password')!['x-requires'], { session: true });
  assert.equal(byName.get('sessions.reauthenticate')!['x-requires'], { session: true });
  for (const name of ADMIN_USERS_METHODS) assert.equal(byName.get(name)!['x-requires'], { admin: true, scope: 'admin' }, name);
  for (const name of ['admin.users.disable', 'admin.users.enable', 'admin.users.reset_password']) {
    assert.ok(byName.get(name)!.params.some((p) => p.name === 'user_id'), `${name} names its target user_id`);
  }
  // Every admin.* method is an admin method, so the step-up covers all of them.
  for (const [name, m] of byName) if (name.startsWith('admin.')) assert.is(m['x-requires'].admin, true, name);
});

test('change_password: every other session ends, the caller keeps going with a new id, the old id is refused', async () => {
  const s = await loggedIn(t);
  const second = await loginAgain(t, s);
  const third = await loginAgain(t, s);
  // One more through another OAuth client: it ends too.
  const otherClient = await newClient(t);
  const otherHeaders = clientHeaders(await tokenFor(t, otherClient));
  const fourth = ok(await t.rpc('users.login', { login: s.user.login, password: s.user.password }, otherHeaders)).session_id as string;
  for (const id of [s.sessionId, second, third]) ok(await callWith(t, s, id));

  const newPassword = strongPassword();
  const result = ok(await s.call('users.change_password', { current_password: s.user.password, new_password: newPassword }));
  assert.type(result.session_id, 'string');
  assert.is(result.session_id.length, 80);
  assert.is.not(result.session_id, s.sessionId);
  assert.is(result.user.id, s.user.id);
  assert.is(result.sessions_ended, 3, 'the three other sessions');

  sessionRequired(await s.call('me'));
  for (const id of [second, third]) sessionRequired(await callWith(t, s, id));
  sessionRequired(await t.rpc('me', { session_id: fourth }, otherHeaders));
  const me = ok(await callWith(t, s, result.session_id));
  assert.is(me.user.id, s.user.id);

  for (const id of [s.sessionId, second, third, fourth]) {
    const row = await rowOf(t, id);
    assert.is(row.is_active, false);
    assert.is(row.end_reason, 'password_changed');
    assert.not.ok(await cached(t, id), 'no live cache entry');
  }
  assert.is((await rowOf(t, result.session_id)).is_active, true);
  // The old password is gone, the new one logs in.
  refused(await t.rpc('users.login', { login: s.user.login, password: s.user.password }, s.headers), 'AUTHENTICATION_FAILED', 'Invalid credentials', 401);
  ok(await t.rpc('users.login', { login: s.user.login, password: newPassword }, s.headers));
  assert.ok(await verifyPassword((await userRow(t, s.user.id)).password_hash, newPassword));
});

// Two instances share stores only with DATABASE_URL/REDIS_URL.
testIn(test, 'real', 'change_password across two instances on the same stores: refused on the other instance at once', async () => {
  const s = await loggedIn(t);
  const onShort = await loginAgain(short, s);
  ok(await callWith(short, s, onShort));
  ok(await callWith(short, s, s.sessionId), 'a session opened on t works on the other instance (cached there now)');

  const changed = strongPassword();
  const result = ok(await s.call('users.change_password', { current_password: s.user.password, new_password: changed }));
  sessionRequired(await callWith(short, s, onShort));
  sessionRequired(await callWith(short, s, s.sessionId));
  assert.is(ok(await callWith(short, s, result.session_id)).user.id, s.user.id, 'the new id works on the other instance');

  // And the other way round: a change on the second instance, refused on the first at once.
  const elsewhere = await loginAgain(t, s, changed);
  ok(await callWith(t, s, elsewhere));
  const again = ok(await callWith(short, s, result.session_id, 'users.change_password', { current_password: changed, new_password: strongPassword() }));
  assert.is(again.sessions_ended, 1);
  sessionRequired(await callWith(t, s, result.session_id));
  sessionRequired(await callWith(t, s, elsewhere));
  ok(await callWith(t, s, again.session_id));
});

test('change_password with a wrong current password: AUTHENTICATION_FAILED, then throttled like a login', async () => {
  const s = await loggedIn(t);
  const other = await loginAgain(t, s);
  for (let i = 0; i < MAX_FAILURES; i++) {
    const res = await s.call('users.change_password', { current_password: `wrong-${i}-password`, new_password: strongPassword() });
    refused(res, 'AUTHENTICATION_FAILED', 'Invalid credentials', 401);
    assert.is(res.body.error.code, -32001);
    assert.is(res.body.error.data.field, 'current_password');
  }
  // Past the limit: refused before the hash, even with the right password, and the login is throttled too.
  const throttled = await s.call('users.change_password', { current_password: s.user.password, new_password: strongPassword() });
  refused(throttled, 'RATE_LIMITED', 'Too many requests', 429);
  assert.ok(throttled.body.error.data.retry_after >= 1, throttled.text);
  refused(await t.rpc('users.login', { login: s.user.login, password: s.user.password }, s.headers), 'RATE_LIMITED', 'Too many requests', 429);
  refused(await s.call('sessions.reauthenticate', { password: s.user.password }), 'RATE_LIMITED', 'Too many requests', 429);
  // Nothing changed: the password, and both sessions.
  assert.ok(await verifyPassword((await userRow(t, s.user.id)).password_hash, s.user.password));
  ok(await s.call('me'));
  ok(await callWith(t, s, other));
  // The odoo transport answers the refusal with its HTTP status and Retry-After.
  const odoo = await t.odoo('users/change_password', { session_id: s.sessionId, current_password: s.user.password, new_password: strongPassword() }, s.headers);
  assert.is(odoo.status, 429, odoo.text);
  assert.ok(Number(odoo.headers.get('retry-after')) >= 1);
});

test('password policy: short, long and common passwords refused naming the field and the rule; nothing changes', async () => {
  const s = await loggedIn(t);
  const change = (new_password: string) => s.call('users.change_password', { current_password: s.user.password, new_password });
  invalidParams(await change('Abc-123'), 'new_password', 'min_length');
  invalidParams(await change('ü'.repeat(7)), 'new_password', 'min_length');
  invalidParams(await change('x'.repeat(257)), 'new_password', 'max_length');
  for (const common of ['password1', 'Password1', 'iloveyou', 'qwertyuiop', '1qaz2wsx']) {
    const res = await change(common);
    invalidParams(res, 'new_password', 'common');
    assert.ok(String(res.body.error.data.detail).includes('commonly used'), res.text);
    assert.not.ok(res.text.includes(common), 'the refused password is not repeated');
  }
  // The limits are inclusive, and length counts characters, not bytes or UTF-16 units.
  assert.ok(ok(await change('ü😀'.repeat(4))).session_id, '8 characters');
  assert.ok(await verifyPassword((await userRow(t, s.user.id)).password_hash, 'ü😀'.repeat(4)));

  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  invalidParams(await admin.call('admin.users.create', { login: unique('weak'), password: 'letmein1' }), 'password', 'common');
  invalidParams(await admin.call('admin.users.create', { login: unique('weak'), password: 'short' }), 'password', 'min_length');
  const target = await newUser(t);
  invalidParams(await admin.call('admin.users.reset_password', { user_id: target.id, new_password: 'sunshine' }), 'new_password', 'common');
  assert.ok(await verifyPassword((await userRow(t, target.id)).password_hash, target.password), 'the refused reset changed nothing');
});

test('change_password: the same password again is refused (rule unchanged)', async () => {
  const s = await loggedIn(t);
  invalidParams(await s.call('users.change_password', { current_password: s.user.password, new_password: s.user.password }), 'new_password', 'unchanged');
  ok(await s.call('me'));
});

test('change_password raced 20 times: two calls with the same current password, exactly one wins', async () => {
  for (let round = 0; round < 20; round++) {
    const s = await loggedIn(t);
    const other = await loginAgain(t, s);
    const [p1, p2] = [strongPassword(), strongPassword()];
    const answers = await Promise.all([
      s.call('users.change_password', { current_password: s.user.password, new_password: p1 }),
      callWith(t, s, other, 'users.change_password', { current_password: s.user.password, new_password: p2 }),
    ]);
    const winners = answers.filter((a) => a.body?.result);
    assert.is(winners.length, 1, `round ${round}: ${answers.map((a) => a.text).join('\n')}`);
    const loser = answers.find((a) => !a.body?.result)!;
    assert.ok(['AUTHENTICATION_FAILED', 'SESSION_REQUIRED'].includes(loser.body.error.data.error_code), loser.text);
    const winnerPassword = answers[0].body?.result ? p1 : p2;
    assert.ok(await verifyPassword((await userRow(t, s.user.id)).password_hash, winnerPassword), `round ${round}: the stored password is the winner's`);
    ok(await callWith(t, s, winners[0].body.result.session_id));
  }
});

test('an admin method without a recent proof: REAUTH_REQUIRED; accepted after sessions.reauthenticate with a new id', async () => {
  const admin = await loggedIn(short, { admin: true, scopes: ['admin'] });
  // Past the window (polled: the machine may be slow).
  const stale = await eventually(() => admin.call('admin.users.list'), (r) => r.body?.error?.data?.error_code === 'REAUTH_REQUIRED', 'the proof to age past the window');
  reauthRequired(stale);
  assert.is(stale.body.error.data.reauth_method, 'sessions.reauthenticate');
  const odoo = await short.odoo('admin/users/list', { session_id: admin.sessionId }, admin.headers);
  assert.is(odoo.status, 401, odoo.text);
  assert.is(odoo.body.error.data.error_code, 'REAUTH_REQUIRED');
  // Every admin.* method, whatever its params, and only the admin methods: me still works.
  const doc = ok(await short.rpc('rpc.discover', {}));
  for (const name of (doc.methods as { name: string }[]).map((m) => m.name).filter((n) => n.startsWith('admin.'))) reauthRequired(await admin.call(name, {}));
  ok(await admin.call('me'));
  // A non-admin user with an old proof hears FORBIDDEN: the step-up comes after the role.
  const plain = await loggedIn(short, { scopes: ['admin'] });
  await eventually(async () => ((await plain.call('me')).body.result.session.login_at as string), (at) => Date.now() - Date.parse(at) > (SHORT_WINDOW + 1) * 1000, 'the plain session to age');
  forbidden(await plain.call('admin.users.list'));

  refused(await admin.call('sessions.reauthenticate', { password: 'not-the-password' }), 'AUTHENTICATION_FAILED', 'Invalid credentials', 401);
  reauthRequired(await admin.call('admin.users.list'));

  // The proof then the admin call: within 4 s unless the machine stalls, so up to three tries.
  let accepted: Res | undefined;
  let current = admin.sessionId;
  for (let attempt = 0; attempt < 3 && !accepted; attempt++) {
    const renewed = ok(await callWith(short, admin, current, 'sessions.reauthenticate', { password: admin.user.password }));
    assert.is(renewed.session_id.length, 80);
    assert.is.not(renewed.session_id, current);
    assert.is(renewed.user.id, admin.user.id);
    assert.ok(Math.abs(Date.parse(renewed.password_proved_at) - Date.now()) < 60_000);
    sessionRequired(await callWith(short, admin, current));
    const row = await rowOf(short, current);
    assert.is(row.end_reason, 'reauthenticated');
    current = renewed.session_id;
    const res = await callWith(short, admin, current, 'admin.users.list');
    if (res.body?.result) accepted = res;
    else reauthRequired(res);
  }
  assert.ok(accepted, 'an admin call right after sessions.reauthenticate is accepted');
  assert.ok(Array.isArray(accepted!.body.result.users));
  const fresh = await rowOf(short, current);
  assert.ok(fresh.password_proved_at.getTime() >= fresh.login_at.getTime() - 1000, 'the new row carries its proof');
});

test('ADMIN_REAUTH_WINDOW: default 900, 0 turns the step-up off, a bad value stops the start', () => {
  assert.is(loadConfig({}).adminReauthWindow, 900);
  assert.is(loadConfig({ ADMIN_REAUTH_WINDOW: '0' }).adminReauthWindow, 0);
  assert.throws(() => loadConfig({ ADMIN_REAUTH_WINDOW: '-1' }), /ADMIN_REAUTH_WINDOW/);
  assert.throws(() => loadConfig({ ADMIN_REAUTH_WINDOW: 'soon' }), /ADMIN_REAUTH_WINDOW/);
});

test('admin.users.*: FORBIDDEN for a non-admin user, and for an admin whose client lacks scope admin; nothing changes', async () => {
  const notAdmin = await loggedIn(t, { scopes: ['admin'] });
  const noScope = await loggedIn(t, { admin: true });
  const target = await newUser(t);
  const params: Record<string, Record<string, unknown>> = {
    'admin.users.list': {},
    'admin.users.create': { login: unique('made'), password: strongPassword() },
    'admin.users.disable': { user_id: target.id },
    'admin.users.enable': { user_id: target.id },
    'admin.users.reset_password': { user_id: target.id, new_password: strongPassword() },
  };
  for (const name of ADMIN_USERS_METHODS) {
    forbidden(await notAdmin.call(name, params[name]));
    forbidden(await noScope.call(name, params[name]));
    const odoo = await t.odoo(name.replace(/\./g, '/'), { session_id: notAdmin.sessionId, ...params[name] }, notAdmin.headers);
    assert.is(odoo.status, 403, `${name} on /api/v1: ${odoo.text}`);
  }
  const row = await userRow(t, target.id);
  assert.is(row.is_active, true);
  assert.ok(await verifyPassword(row.password_hash, target.password));
  const made = await t.services.users.findByLogin(String(params['admin.users.create'].login));
  assert.is(made, undefined);
});

test('admin.users.create / list: the user is in the table and logs in; a taken login is refused', async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const login = unique('Made');
  const password = strongPassword();
  const created = ok(await admin.call('admin.users.create', { login, password, name: 'Made Here', is_admin: true })).user;
  assert.is(created.login, login);
  assert.is(created.name, 'Made Here');
  assert.is(created.is_admin, true);
  assert.is(created.is_active, true);
  const row = await userRow(t, created.id);
  assert.is(row.login, login);
  assert.is(row.is_admin, true);
  assert.ok(await verifyPassword(row.password_hash, password));
  ok(await t.rpc('users.login', { login, password }, admin.headers));
  invalidParams(await admin.call('admin.users.create', { login: login.toUpperCase(), password: strongPassword() }), 'login', 'unique');

  let found: { id: number; is_active: boolean } | undefined;
  for (let offset = 0; !found; offset += 1000) {
    const page = ok(await admin.call('admin.users.list', { limit: 1000, offset })).users as { id: number; login: string; is_active: boolean; created_at: string }[];
    if (!page.length) break;
    for (const u of page) assert.not.ok('password_hash' in u, 'no hash in the list');
    found = page.find((u) => u.id === created.id);
  }
  assert.ok(found, 'the new user is listed');
  assert.is(found!.is_active, true);
  invalidParams(await admin.call('admin.users.list', { limit: 0 }), 'limit');
});

test('admin.users.disable / enable: disable ends every session of the user (user_disabled), logins answer USER_INACTIVE until enable', async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const victim = await loggedIn(t);
  const second = await loginAgain(t, victim);
  const res = ok(await admin.call('admin.users.disable', { user_id: victim.user.id }));
  assert.is(res.user.id, victim.user.id);
  assert.is(res.user.is_active, false);
  assert.is(res.sessions_ended, 2);
  assert.is((await userRow(t, victim.user.id)).is_active, false);
  for (const id of [victim.sessionId, second]) {
    sessionRequired(await callWith(t, victim, id));
    assert.is((await rowOf(t, id)).end_reason, 'user_disabled');
    assert.not.ok(await cached(t, id));
  }
  refused(await t.rpc('users.login', { login: victim.user.login, password: victim.user.password }, victim.headers), 'USER_INACTIVE', 'User inactive', 403);

  const enabled = ok(await admin.call('admin.users.enable', { user_id: victim.user.id }));
  assert.is(enabled.user.is_active, true);
  assert.is((await userRow(t, victim.user.id)).is_active, true);
  ok(await t.rpc('users.login', { login: victim.user.login, password: victim.user.password }, victim.headers));

  invalidParams(await admin.call('admin.users.disable', { user_id: admin.user.id }), 'user_id', 'not_self');
  ok(await admin.call('me'));
  const missing = await admin.call('admin.users.enable', { user_id: 2 ** 40 });
  refused(missing, 'NOT_FOUND', 'Not found', 404);
  invalidParams(await admin.call('admin.users.disable', {}), 'user_id');
});

test('admin.users.reset_password: the new password works, the old one not, every session ended (password_reset)', async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const victim = await loggedIn(t);
  const second = await loginAgain(t, victim);
  const newPassword = strongPassword();
  const res = ok(await admin.call('admin.users.reset_password', { user_id: victim.user.id, new_password: newPassword }));
  assert.is(res.user.id, victim.user.id);
  assert.is(res.sessions_ended, 2);
  for (const id of [victim.sessionId, second]) {
    sessionRequired(await callWith(t, victim, id));
    assert.is((await rowOf(t, id)).end_reason, 'password_reset');
  }
  refused(await t.rpc('users.login', { login: victim.user.login, password: victim.user.password }, victim.headers), 'AUTHENTICATION_FAILED', 'Invalid credentials', 401);
  ok(await t.rpc('users.login', { login: victim.user.login, password: newPassword }, victim.headers));
  refused(await admin.call('admin.users.reset_password', { user_id: 2 ** 40, new_password: strongPassword() }), 'NOT_FOUND', 'Not found', 404);
  ok(await admin.call('me'), 'the admin keeps their session');
});

test('the new end reasons are counted: admin.stats names them, the metrics count them, the audit has the calls', async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  // One of each here, so the figures hold whatever the order of the tests.
  const s = await loggedIn(t);
  ok(await s.call('users.change_password', { current_password: s.user.password, new_password: strongPassword() }));
  const r = await loggedIn(t);
  ok(await admin.call('admin.users.reset_password', { user_id: r.user.id, new_password: strongPassword() }));
  const q = await loggedIn(t);
  ok(await q.call('sessions.reauthenticate', { password: q.user.password }));

  const stats = ok(await admin.call('admin.stats', { window_seconds: 3600 }));
  for (const reason of ['idle', 'absolute', 'logout', 'revoked', 'cap', 'user_disabled']) assert.type(stats.sessions_ended[reason], 'number', `${reason} named`);
  for (const reason of ['password_changed', 'password_reset', 'reauthenticated']) assert.ok(stats.sessions_ended[reason] >= 1, `${reason}: ${JSON.stringify(stats.sessions_ended)}`);

  const metrics = await (await fetch(`${t.url}/metrics`)).text();
  for (const reason of ['password_changed', 'password_reset', 'reauthenticated']) {
    const line = metrics.split('\n').find((l) => l.startsWith(`tether_session_expirations_total{reason="${reason}"}`));
    assert.ok(line && Number(line.split(' ').pop()) >= 1, `${reason} in /metrics: ${line}`);
  }

  await t.services.audit.flush();
  const rows = await t.services.db.sql<{ method: string; user_id: number; status: number }[]>`
    select method, user_id::int, status from api_access_log where method in ('admin.users.reset_password', 'users.change_password', 'sessions.reauthenticate') and user_id in (${admin.user.id}, ${s.user.id}, ${q.user.id})`;
  assert.ok(rows.some((row) => row.method === 'admin.users.reset_password' && row.user_id === admin.user.id && row.status === 200));
  assert.ok(rows.some((row) => row.method === 'users.change_password' && row.user_id === s.user.id && row.status === 200));
  assert.ok(rows.some((row) => row.method === 'sessions.reauthenticate' && row.user_id === q.user.id && row.status === 200));
});

test.run();
