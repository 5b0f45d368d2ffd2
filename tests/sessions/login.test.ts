// users.login: by login or email, case-insensitive names, the catalogue's failures (same answer for a
// wrong password and an unknown user), params validation, the bearer requirement, the Odoo path, and
// no password in any log line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { clientHeaders, newClient, newUser, tokenFor, unique, UA, LANG } from '../support/fixtures.ts';
import { cacheKeyOf, hashOf } from '../../server/sessions/sessionId.ts';
import { hashPassword } from '../../server/auth/passwords.ts';
import { createHash } from 'node:crypto';

let t: TestTether;
let headers: Record<string, string>;
let clientId: string;
/** Every password a test sent, right or wrong: none may show up in a log. */
const passwordsSent: string[] = [];

test.before(async () => {
  t = await startTestTether({ SWEEP_INTERVAL: '0' });
  const client = await newClient(t);
  clientId = client.id;
  headers = clientHeaders(await tokenFor(t, client));
});
test.after(async () => {
  await t.close();
});

function assertError(res: { status: number; body: any }, errorCode: string, message: string, status: number, httpStatus = 200) {
  assert.is(res.status, httpStatus);
  assert.ok(res.body?.error, `an error, got ${JSON.stringify(res.body)}`);
  assert.is(res.body.error.message, message);
  assert.is(res.body.error.status, status);
  assert.is(res.body.error.data.error_code, errorCode);
}

async function login(params: Record<string, unknown>, h: Record<string, string> = headers) {
  if (typeof params.password === 'string') passwordsSent.push(params.password);
  return t.rpc('users.login', params, h);
}

async function sessionsOf(userId: number): Promise<number> {
  const [{ n }] = await t.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_sessions where user_id = ${userId}`;
  return n;
}

/** A successful login: the session works, its row and cache key exist. */
async function assertLoggedIn(res: { status: number; body: any }, user: { id: number; login: string }, h: Record<string, string> = headers) {
  assert.is(res.status, 200);
  assert.ok(res.body?.result, `a result, got ${JSON.stringify(res.body)}`);
  const sessionId: string = res.body.result.session_id;
  assert.match(sessionId, /^[A-Za-z0-9_-]{80}$/);
  assert.is(res.body.result.user.id, user.id);
  assert.is(res.body.result.user.login, user.login, 'the stored login, whatever case was typed');
  const [row] = await t.services.db.sql<{ user_id: number; client_id: string; is_active: boolean; end_reason: string | null; logout_at: Date | null }[]>`
    select user_id, client_id, is_active, end_reason, logout_at from api_sessions where session_hash = ${hashOf(sessionId)}`;
  assert.ok(row);
  assert.is(Number(row.user_id), user.id);
  assert.is(row.client_id, clientId);
  assert.is(row.is_active, true);
  assert.is(row.end_reason, null);
  assert.is(row.logout_at, null);
  assert.ok(await t.services.cache.get(cacheKeyOf(hashOf(sessionId))), 'the cache key exists');
  const me = await t.rpc('me', { session_id: sessionId }, h);
  assert.is(me.body?.result?.user?.id, user.id, `me works: ${me.text}`);
  return sessionId;
}

test('login with the `login` param', async () => {
  const user = await newUser(t);
  await assertLoggedIn(await login({ login: user.login, password: user.password }), user);
  assert.ok(t.logsMatching('[LOGIN] session opened').some((l) => l.user_id === user.id));
});

test('login with the `email` param (accepted for `login`)', async () => {
  const user = await newUser(t, { login: `${unique('mail')}@example.com` });
  await assertLoggedIn(await login({ email: user.login, password: user.password }), user);
});

test('neither login nor email: -32602 naming login', async () => {
  const res = await login({ password: 'whatever-password-1' });
  assertError(res, 'INVALID_PARAMS', 'Invalid params', 400);
  assert.is(res.body.error.code, -32602);
  assert.is(res.body.error.data.field, 'login');
});

test('wrong password and unknown user: the same Invalid credentials (message, error_code, status)', async () => {
  const user = await newUser(t);
  const wrong = await login({ login: user.login, password: `${user.password}-wrong` });
  const unknown = await login({ login: unique('nobody'), password: 'some-password-123' });
  for (const res of [wrong, unknown]) {
    assertError(res, 'AUTHENTICATION_FAILED', 'Invalid credentials', 401);
    assert.is(res.body.error.code, -32001);
  }
  assert.is(wrong.body.error.data.detail, unknown.body.error.data.detail, 'the detail does not tell them apart either');
  assert.is(await sessionsOf(user.id), 0, 'no session opened');

  // On the Odoo path the HTTP status is the error's, the same for both.
  const wrongOdoo = await t.odoo('users/login', { login: user.login, password: `${user.password}-wrong` }, headers);
  const unknownOdoo = await t.odoo('users/login', { login: unique('nobody'), password: 'some-password-123' }, headers);
  assertError(wrongOdoo, 'AUTHENTICATION_FAILED', 'Invalid credentials', 401, 401);
  assertError(unknownOdoo, 'AUTHENTICATION_FAILED', 'Invalid credentials', 401, 401);
  assert.is(await sessionsOf(user.id), 0);
  assert.ok(t.logsMatching('[LOGIN FAILED] invalid credentials').length >= 4);
});

test('a failed login logs the login\'s first 3 characters and 8 hex of its SHA-256, never the whole login', async () => {
  // Someone typed their password into the login field.
  const typed = `Pa55-${unique('word')}`;
  const res = await login({ login: typed, password: 'whatever-123' });
  assertError(res, 'AUTHENTICATION_FAILED', 'Invalid credentials', 401);
  const lines = t.logs.filter((l) => l.msg === '[LOGIN FAILED] invalid credentials' && l.login_hash === createHash('sha256').update(typed).digest('hex').slice(0, 8));
  assert.is(lines.length, 1, 'one [LOGIN FAILED] line for the attempt');
  assert.is(lines[0].login_prefix, 'Pa5');
  assert.is(lines[0].login, undefined);
  assert.is(t.logsMatching(typed).length, 0, 'the login as typed is in no log line');
  assert.is(t.logsMatching(typed.slice(0, 8)).length, 0, 'nor a longer part of it');
});

test('inactive user: User inactive (403, JSON-RPC code -32003) with the right password and with a wrong one alike: the answer tells nothing about the password', async () => {
  const user = await newUser(t);
  await t.services.users.setActive(user.login, false);
  const right = await login({ login: user.login, password: user.password });
  const wrong = await login({ login: user.login, password: 'not-the-password' });
  for (const res of [right, wrong]) {
    assertError(res, 'USER_INACTIVE', 'User inactive', 403);
    assert.is(res.body.error.code, -32003);
    assert.is(res.body.error.data.status, 403);
  }
  assert.is(right.body.error.data.detail, wrong.body.error.data.detail, 'the detail is the same too');
  const odooRight = await t.odoo('users/login', { login: user.login, password: user.password }, headers);
  const odooWrong = await t.odoo('users/login', { login: user.login, password: 'not-the-password' }, headers);
  for (const res of [odooRight, odooWrong]) {
    assertError(res, 'USER_INACTIVE', 'User inactive', 403, 403);
    assert.is(res.body.error.code, -32003);
  }
  assert.is(await sessionsOf(user.id), 0, 'no session opened');
  assert.ok(t.logsMatching('[LOGIN FAILED] user inactive').filter((l) => l.user_id === user.id).length >= 4);
});

test('missing password: -32602 with data.field "password"', async () => {
  const user = await newUser(t);
  const res = await login({ login: user.login });
  assertError(res, 'INVALID_PARAMS', 'Invalid params', 400);
  assert.is(res.body.error.code, -32602);
  assert.is(res.body.error.data.field, 'password');
  // On the Odoo path a protocol error too answers its error.status.
  const odoo = await t.odoo('users/login', { login: user.login }, headers);
  assertError(odoo, 'INVALID_PARAMS', 'Invalid params', 400, 400);
  assert.is(odoo.body.error.data.field, 'password');
  assert.is(await sessionsOf(user.id), 0);
});

test('login without a bearer: Authorization header is required', async () => {
  const user = await newUser(t);
  const bare = { 'user-agent': UA, 'accept-language': LANG };
  const res = await login({ login: user.login, password: user.password }, bare);
  assertError(res, 'AUTH_HEADER_REQUIRED', 'Authorization header is required', 401);
  const odoo = await t.odoo('users/login', { login: user.login, password: user.password }, bare);
  assertError(odoo, 'AUTH_HEADER_REQUIRED', 'Authorization header is required', 401, 401);
  assert.is(await sessionsOf(user.id), 0, 'no session opened');
});

test('login via the Odoo path /api/v1/users/login', async () => {
  const user = await newUser(t);
  passwordsSent.push(user.password);
  const res = await t.odoo('users/login', { login: user.login, password: user.password }, headers);
  const sessionId = await assertLoggedIn(res, user);
  assert.is(res.body.result.idle_timeout, t.config.sessionIdleTimeout);
  const me = await t.odoo('me', { session_id: sessionId }, headers);
  assert.is(me.status, 200);
  assert.is(me.body.result.user.id, user.id);
});

test('login names match case-insensitively (unique index on lower(login))', async () => {
  const name = `${unique('MiXeD')}_CaSe`;
  const user = await newUser(t, { login: name });
  await assertLoggedIn(await login({ login: name.toLowerCase(), password: user.password }), user);
  await assertLoggedIn(await login({ login: name.toUpperCase(), password: user.password }), user);
  await assertLoggedIn(await login({ email: name.toUpperCase(), password: user.password }), user);
  // The schema refuses a second user whose login differs only in case.
  let refused = false;
  try {
    await t.services.users.create({ login: name.toLowerCase(), passwordHash: await hashPassword('another-password-1'), name: 'Twin' });
  } catch {
    refused = true;
  }
  assert.ok(refused, 'a login differing only in case is a duplicate');
  // The password is not case-insensitive.
  assertError(await login({ login: name, password: user.password.toUpperCase() }), 'AUTHENTICATION_FAILED', 'Invalid credentials', 401);
});

test('no password (nor session id) appears in any log line', async () => {
  const user = await newUser(t);
  await assertLoggedIn(await login({ login: user.login, password: user.password }), user);
  assert.ok(passwordsSent.length >= 10, `checked ${passwordsSent.length} passwords`);
  assert.ok(t.logs.length > 20);
  for (const line of t.logs) {
    const text = JSON.stringify(line);
    for (const password of passwordsSent) assert.not.ok(text.includes(password), `a log line holds a password: ${text.slice(0, 200)}`);
    assert.not.ok(/[A-Za-z0-9_-]{80}/.test(text), `a log line holds something shaped like a whole session id: ${text.slice(0, 200)}`);
  }
});

test.run();
