// Login throttling in the cache (Redis in real mode, so it holds across instances): attempts per
// account and per IP over a window, each taking its slot before the hash, lead to 429 Too many requests
// (RATE_LIMITED, -32029) with Retry-After (HTTP header on single requests, data.retry_after always); a
// success clears the account's counter; a throttled login never reaches the password hash, and logs
// [LOGIN THROTTLED]. Concurrent guesses (one batch, parallel requests) count one by one.
// Each test sends its own client address (TRUSTED_PROXIES=127.0.0.1 + X-Forwarded-For in 198.18.0.0/15),
// so no real address's counter moves on a shared Redis.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomInt } from 'node:crypto';
import { realStores, startTestTether, type TestTether } from '../support/tether.ts';
import { clientHeaders, newClient, newUser, tokenFor, unique } from '../support/fixtures.ts';
import { loginKey, ipKey, takeLoginSlot } from '../../server/auth/loginThrottle.ts';
import type { CallContext } from '../../server/rpc/context.ts';
import { passwordVerifications } from '../../server/auth/passwords.ts';
import { startThrowawayPostgres, startThrowawayRedis } from '../support/throwaway.ts';
import { loadConfig } from '../../server/config.ts';
import { secondOf, waitOutTtl } from '../support/waits.ts';

const PER_LOGIN = 3;
const PER_IP = 6;
const WINDOW = 60;
const ENV = {
  SWEEP_INTERVAL: '0',
  TRUSTED_PROXIES: '127.0.0.1',
  LOGIN_MAX_FAILURES_PER_LOGIN: String(PER_LOGIN),
  LOGIN_MAX_FAILURES_PER_IP: String(PER_IP),
  LOGIN_FAILURE_WINDOW: String(WINDOW),
};

let t: TestTether;
let token: string;

test.before(async () => {
  t = await startTestTether(ENV);
  token = await tokenFor(t, await newClient(t));
});
test.after(async () => {
  await t.close();
});

/** A fresh client address for one test: its own per-IP counter. */
const newIp = () => `198.18.${randomInt(0, 256)}.${randomInt(1, 255)}`;
const headersFrom = (ip: string) => clientHeaders(token, { 'x-forwarded-for': ip });

async function login(ip: string, params: Record<string, unknown>, via: 'jsonrpc' | 'odoo' = 'odoo', tether: TestTether = t) {
  return via === 'odoo' ? tether.odoo('users/login', params, headersFrom(ip)) : tether.rpc('users.login', params, headersFrom(ip));
}

function assertFailed(res: { status: number; body: any }, http = 401) {
  assert.is(res.status, http, JSON.stringify(res.body));
  assert.is(res.body.error?.message, 'Invalid credentials');
  assert.is(res.body.error.data.error_code, 'AUTHENTICATION_FAILED');
}

function assertThrottled(res: { status: number; headers: Headers; body: any }, http = 429) {
  assert.is(res.status, http, JSON.stringify(res.body));
  assert.is(res.body.error?.message, 'Too many requests');
  assert.is(res.body.error.code, -32029);
  assert.is(res.body.error.status, 429);
  assert.is(res.body.error.data.error_code, 'RATE_LIMITED');
  const retryAfter = Number(res.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= WINDOW, `Retry-After ${res.headers.get('retry-after')}`);
  assert.is(res.body.error.data.retry_after, retryAfter);
}

test('config: documented defaults 5 / 20 / 900 s; 0 turns a limit off; bad values stop the process', () => {
  const c = loadConfig({});
  assert.equal(c.loginThrottle, { maxFailuresPerLogin: 5, maxFailuresPerIp: 20, windowSeconds: 900 });
  assert.is(loadConfig({ LOGIN_MAX_FAILURES_PER_LOGIN: '0' }).loginThrottle.maxFailuresPerLogin, 0);
  assert.throws(() => loadConfig({ LOGIN_MAX_FAILURES_PER_LOGIN: '-1' }), /LOGIN_MAX_FAILURES_PER_LOGIN/);
  assert.throws(() => loadConfig({ LOGIN_MAX_FAILURES_PER_IP: 'many' }), /LOGIN_MAX_FAILURES_PER_IP/);
  assert.throws(() => loadConfig({ LOGIN_FAILURE_WINDOW: '0' }), /LOGIN_FAILURE_WINDOW/);
});

test(`per login: ${PER_LOGIN} failures, then 429 with Retry-After even for the right password, any case of the login`, async () => {
  const ip = newIp();
  const user = await newUser(t);
  for (let i = 0; i < PER_LOGIN; i++) assertFailed(await login(ip, { login: user.login, password: 'wrong' }));
  assertThrottled(await login(ip, { login: user.login, password: user.password }));
  assertThrottled(await login(newIp(), { login: user.login.toUpperCase(), password: user.password }), 429);
  assertThrottled(await login(ip, { email: user.login, password: user.password }), 429);
  // On /jsonrpc: HTTP 200 as every JSON-RPC answer, the Retry-After header still set (single request).
  assertThrottled(await login(ip, { login: user.login, password: user.password }, 'jsonrpc'), 200);
  // Another login from the same address is not held back by this login's counter.
  const other = await newUser(t);
  const ok = await login(ip, { login: other.login, password: other.password });
  assert.is(ok.status, 200, ok.text);
  assert.ok(ok.body.result.session_id);
  // The greppable line, with no password and no raw login in it.
  const lines = t.logsMatching('[LOGIN THROTTLED]');
  assert.ok(lines.length >= 4);
  for (const line of lines) {
    assert.not.ok(JSON.stringify(line).includes(user.password));
    assert.not.ok(JSON.stringify(line).includes(user.login));
  }
  assert.is(lines.at(-1)!.error_code, 'RATE_LIMITED');
});

test('a throttled login never reaches the password hash (counted, with the failures before it as the positive control)', async () => {
  const ip = newIp();
  const user = await newUser(t);
  const before = passwordVerifications();
  for (let i = 0; i < PER_LOGIN; i++) assertFailed(await login(ip, { login: user.login, password: 'wrong' }));
  assert.is(passwordVerifications() - before, PER_LOGIN, 'each failed login hashed once');
  const throttledFrom = passwordVerifications();
  for (let i = 0; i < 20; i++) assertThrottled(await login(ip, { login: user.login, password: user.password }));
  assert.is(passwordVerifications() - throttledFrom, 0, 'no throttled login hashed');
});

test('a successful login clears its counter; one counter per account however the login is spelled; keys hold hashes', async () => {
  const user = await newUser(t, { login: unique('MixedCase') });
  const key = loginKey({ userId: user.id });
  for (let round = 0; round < 3; round++) {
    const ip = newIp();
    for (let i = 0; i < PER_LOGIN - 1; i++) assertFailed(await login(ip, { login: round % 2 ? user.login.toLowerCase() : user.login.toUpperCase(), password: 'wrong' }));
    assert.is(await t.services.cache.get(key), String(PER_LOGIN - 1));
    const ok = await login(ip, { login: user.login, password: user.password });
    assert.is(ok.status, 200, ok.text);
    assert.is(await t.services.cache.get(key), null, 'cleared by the success');
    assert.is(await t.services.cache.get(ipKey(ip)), String(PER_LOGIN - 1), "the success gave its slot back to the address's counter");
  }
  assert.match(key, /^login-throttle:login:[0-9a-f]{32}$/);
  assert.match(loginKey({ lowered: 'nobody@example.com' }), /^login-throttle:login:[0-9a-f]{32}$/);
});

/** The context takeLoginSlot reads (services, peer, record), on the test server's real cache. */
const slotContext = (ip: string): CallContext => ({
  requestId: 'req_throttle_test',
  transport: 'jsonrpc',
  instance: '/jsonrpc',
  peer: { ip, userAgent: 'TestClient/1.0', acceptLanguage: 'en-US' },
  headers: {},
  cookie: () => undefined,
  rawParams: {},
  record: { method: 'users.login' },
  services: t.services,
});

test('a successful login clears the account\'s counter unless other attempts took slots after it: then only its own slot is given back and the racing guesses stay counted', async () => {
  for (let round = 0; round < 20; round++) {
    const user = await newUser(t);
    const key = loginKey({ userId: user.id });
    const ip = newIp();
    assertFailed(await login(ip, { login: user.login, password: 'wrong-before' }));
    // The success takes its slot (2); a guess over HTTP takes the next (3) before the success is
    // through its hash; then the success reports: only its own slot goes back.
    const success = await takeLoginSlot(slotContext(ip), { userId: user.id });
    assert.is(await t.services.cache.get(key), '2');
    assertFailed(await login(newIp(), { login: user.login, password: 'wrong-racing' }));
    await success.succeeded();
    assert.is(await t.services.cache.get(key), '2', 'the guess before and the guess that raced it are still counted');
    // Nobody after it: the next success clears the counter.
    const alone = await takeLoginSlot(slotContext(ip), { userId: user.id });
    assert.is(await t.services.cache.get(key), '3');
    await alone.succeeded();
    assert.is(await t.services.cache.get(key), null, 'cleared');
  }
});

test('a right password racing guesses over HTTP (parallel requests, 20 rounds): the login succeeds, the guesses that took slots after it stay counted, never more than they were', async () => {
  let kept = 0;
  for (let round = 0; round < 20; round++) {
    const user = await newUser(t);
    const key = loginKey({ userId: user.id });
    const [ok, ...guesses] = await Promise.all([
      login(newIp(), { login: user.login, password: user.password }, 'jsonrpc'),
      login(newIp(), { login: user.login, password: 'wrong-1' }, 'jsonrpc'),
      login(newIp(), { login: user.login, password: 'wrong-2' }, 'jsonrpc'),
    ]);
    assert.ok(ok.body.result?.session_id, ok.text);
    for (const g of guesses) assert.is(g.body.error.data.error_code, 'AUTHENTICATION_FAILED');
    const left = await t.services.cache.get(key);
    // Cleared when both guesses took their slots before the success (it was last), else both stay.
    assert.ok(left === null || left === '2', `counter ${left}`);
    if (left === '2') {
      kept++;
      // They count: one more guess uses the last slot, and then even the right password waits.
      assertFailed(await login(newIp(), { login: user.login, password: 'wrong-3' }, 'jsonrpc'), 200);
      assertThrottled(await login(newIp(), { login: user.login, password: user.password }, 'jsonrpc'), 200);
    }
  }
  console.log(`[throttle race] guesses kept counted in ${kept} of 20 rounds`);
});

test('a disabled account answers the same for any password and its attempts keep counting: past the limit, 429 for the right password too', async () => {
  const user = await newUser(t);
  await t.services.users.setActive(user.login, false);
  const key = loginKey({ userId: user.id });
  const before = passwordVerifications();
  for (let i = 0; i < PER_LOGIN; i++) {
    const res = await login(newIp(), { login: user.login, password: i % 2 ? user.password : 'wrong' });
    assert.is(res.status, 403, res.text);
    assert.is(res.body.error.data.error_code, 'USER_INACTIVE');
    assert.is(res.body.error.code, -32003);
  }
  assert.is(passwordVerifications() - before, PER_LOGIN, 'the same work as any login: one hash each');
  assert.is(await t.services.cache.get(key), String(PER_LOGIN), 'each attempt kept its slot, the right password\'s too');
  assertThrottled(await login(newIp(), { login: user.login, password: user.password }));
});

test('a login spelled with a character PostgreSQL lowers like another (U+0130) shares the account\'s counter', async () => {
  const base = unique('irene').toLowerCase();
  const user = await newUser(t, { login: `${base}@example.com` });
  const [{ same }] = await t.services.db.sql<{ same: boolean }[]>`select lower(${'\u0130' + base.slice(1) + '@example.com'}) = lower(${user.login}) as same`;
  const ip = newIp();
  // Whatever this database's lower() does with U+0130, the attempt counts against the account it would log in as.
  const spelled = same ? '\u0130' + base.slice(1) + '@example.com' : user.login.toUpperCase();
  for (let i = 0; i < PER_LOGIN; i++) assertFailed(await login(ip, { login: spelled, password: 'wrong' }));
  assertThrottled(await login(newIp(), { login: user.login, password: user.password }));
  assert.is(await t.services.cache.get(loginKey({ userId: user.id })), String(PER_LOGIN), 'the refused attempt gave its slot back');
});

test('30 logins in one batch (29 wrong, the right one last): at most the limit reach the hash, no session opens', async () => {
  for (let round = 0; round < 20; round++) {
    const ip = newIp();
    const user = await newUser(t);
    const batch = Array.from({ length: 30 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'users.login', params: { login: user.login, password: i === 29 ? user.password : `wrong-${i}` } }));
    const before = passwordVerifications();
    const res = await t.post('/jsonrpc', batch, headersFrom(ip));
    assert.is(res.status, 200);
    const codes = (res.body as any[]).map((r) => r.error?.data.error_code ?? 'OK');
    assert.is(codes.filter((c) => c === 'AUTHENTICATION_FAILED').length + codes.filter((c) => c === 'OK').length, PER_LOGIN, codes.join(','));
    assert.is(codes.filter((c) => c === 'RATE_LIMITED').length, 30 - PER_LOGIN);
    assert.is(passwordVerifications() - before, PER_LOGIN, 'only the slots taken reached the hash');
    const [{ n }] = await t.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_sessions where user_id = ${user.id} and is_active`;
    assert.is(n, codes.includes('OK') ? 1 : 0);
  }
});

test('3 parallel requests of 10 guesses: at most the limit reach the password check', async () => {
  for (let round = 0; round < 20; round++) {
    const user = await newUser(t);
    const batch = (r: number) => Array.from({ length: 10 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'users.login', params: { login: user.login, password: `wrong-${r}-${i}` } }));
    const answers = await Promise.all([0, 1, 2].map((r) => t.post('/jsonrpc', batch(r), headersFrom(newIp()))));
    const codes = answers.flatMap((a) => (a.body as any[]).map((r) => r.error?.data.error_code));
    assert.is(codes.filter((c) => c === 'AUTHENTICATION_FAILED').length, PER_LOGIN, codes.join(','));
    assert.is(codes.filter((c) => c === 'RATE_LIMITED').length, 30 - PER_LOGIN);
  }
});

test(`per IP: ${PER_IP} failures on any logins from one address, then 429 for every login from it, not from others`, async () => {
  const ip = newIp();
  for (let i = 0; i < PER_IP; i++) assertFailed(await login(ip, { login: unique('nobody'), password: 'x' }));
  const user = await newUser(t);
  assertThrottled(await login(ip, { login: user.login, password: user.password }));
  assert.ok(t.logsMatching('[LOGIN THROTTLED]').some((l) => Array.isArray(l.by) && (l.by as string[]).includes('ip')));
  const ok = await login(newIp(), { login: user.login, password: user.password });
  assert.is(ok.status, 200, ok.text);
  // A success does not clear the address's counter (one good account must not reset a guesser).
  assertThrottled(await login(ip, { login: user.login, password: user.password }));
  const ttl = await t.services.cache.ttl(ipKey(ip));
  assert.ok(ttl > 0 && ttl <= WINDOW);
});

test('a batch of logins while throttled: each element RATE_LIMITED with data.retry_after (HTTP 200)', async () => {
  const ip = newIp();
  const user = await newUser(t);
  for (let i = 0; i < PER_LOGIN; i++) assertFailed(await login(ip, { login: user.login, password: 'wrong' }));
  const batch = [1, 2].map((id) => ({ jsonrpc: '2.0', id, method: 'users.login', params: { login: user.login, password: user.password } }));
  const res = await t.post('/jsonrpc', batch, headersFrom(ip));
  assert.is(res.status, 200);
  assert.is(res.body.length, 2);
  for (const item of res.body) {
    assert.is(item.error.data.error_code, 'RATE_LIMITED');
    assert.is(item.error.message, 'Too many requests');
    assert.ok(item.error.data.retry_after >= 1 && item.error.data.retry_after <= WINDOW);
  }
});

test('the window ends: after LOGIN_FAILURE_WINDOW the login is accepted again', async () => {
  // The window is read per call: a short one for this test only.
  // On a loaded machine the failures themselves may outlast a 1 s window (each is a password hash):
  // then the window has already ended before the check, and the round is tried with a longer one.
  const config = t.services.config.loginThrottle;
  try {
    for (const window of [1, 3, 9, 27]) {
      config.windowSeconds = window;
      const ip = newIp();
      const user = await newUser(t);
      for (let i = 0; i < PER_LOGIN; i++) assertFailed(await login(ip, { login: user.login, password: 'wrong' }));
      const held = await login(ip, { login: user.login, password: user.password });
      if (held.body.error?.data.error_code !== 'RATE_LIMITED') {
        assert.is(held.status, 200, held.text);
        continue;
      }
      const retryAfter = Number(held.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= window, `Retry-After ${retryAfter} within the ${window} s window`);
      // The window itself must run out (time is the subject): Retry-After whole seconds, and one more
      // for the cache's rounding of the counter's TTL.
      await waitOutTtl('the Retry-After window', secondOf(Date.now()) + retryAfter + 1);
      const ok = await login(ip, { login: user.login, password: user.password });
      assert.is(ok.status, 200, ok.text);
      return;
    }
    assert.unreachable('no window long enough to hold the failures, even 27 s');
  } finally {
    config.windowSeconds = WINDOW;
  }
});

test('two instances on one throwaway PostgreSQL and Redis: failures counted on A are refused on B', async () => {
  // In every mode: two processes share a counter only through a shared Redis.
  const [pg, redis] = await Promise.all([startThrowawayPostgres(), startThrowawayRedis()]);
  const stores = { DATABASE_URL: pg.url, REDIS_URL: redis.url, JWT_SECRET: 'two-instances-secret-0123456789-0123456789' };
  const a = await startTestTether({ ...ENV, ...stores });
  const b = await startTestTether({ ...ENV, ...stores });
  try {
    const aToken = await tokenFor(a, await newClient(a));
    const ip = newIp();
    const user = await newUser(a);
    const from = (x: TestTether, params: Record<string, unknown>, addr = ip) => x.odoo('users/login', params, clientHeaders(aToken, { 'x-forwarded-for': addr }));
    for (let i = 0; i < PER_LOGIN; i++) assertFailed(await from(i % 2 ? b : a, { login: user.login, password: 'wrong' }));
    assertThrottled(await from(b, { login: user.login, password: user.password }, newIp()));
    assertThrottled(await from(a, { login: user.login, password: user.password }, newIp()));
    assert.ok(b.logsMatching('[LOGIN THROTTLED]').length >= 1);
  } finally {
    await Promise.allSettled([a.close(), b.close()]);
    await Promise.allSettled([redis.stop(), pg.stop()]);
  }
});

test.run();
