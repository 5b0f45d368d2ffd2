// The console's API over real HTTP, without a browser: the cookie's attributes (Secure on HTTPS behind a
// trusted proxy), admins only, no method that answers a session id, the console session an ordinary one
// (listed, revoked, fingerprint-bound, useless with another client's bearer), the built-in client
// without a usable secret, admin.clients.* and admin.stats' timeline and cache state.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { loggedIn, newClient, newUser, tokenFor, unique } from '../support/fixtures.ts';
import { CONSOLE_CLIENT_ID } from '../../server/console/consoleClient.ts';

let t: TestTether;
/** Behind a trusted proxy (127.0.0.1): X-Forwarded-Proto is believed. */
let proxied: TestTether;

test.before(async () => {
  [t, proxied] = await Promise.all([startTestTether(), startTestTether({ TRUSTED_PROXIES: '127.0.0.1' })]);
});
test.after(async () => {
  await Promise.all([t?.close(), proxied?.close()]);
});

const UA = 'ConsoleTest/1.0 (X11; Linux x86_64)';

/** A browser's console requests, with a cookie jar of one. */
function browser(tether: TestTether, extra: Record<string, string> = {}) {
  let cookie = '';
  const send = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${tether.url}/console/api/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tether-console': '1', origin: tether.url, 'user-agent': UA, 'accept-language': 'en-US', ...extra, ...(cookie ? { cookie } : {}), ...headers },
      body: JSON.stringify(body),
    });
    const setCookie = response.headers.get('set-cookie');
    if (setCookie) cookie = /Max-Age=0/.test(setCookie) ? '' : setCookie.split(';')[0];
    return { status: response.status, setCookie, body: (await response.json()) as any };
  };
  return {
    send,
    get cookie() {
      return cookie;
    },
    sessionId: () => cookie.split('=')[1],
    login: (user: { login: string; password: string }) => send('login', { login: user.login, password: user.password }),
    rpc: (method: string, params?: Record<string, unknown>, headers?: Record<string, string>) => send('rpc', { method, params }, headers),
  };
}

test('the cookie: HttpOnly, SameSite=Strict, Path=/console; Secure on HTTPS (a trusted proxy\'s X-Forwarded-Proto), never on plain HTTP', async () => {
  const admin = await newUser(t, { admin: true });
  const plain = await browser(t).login(admin);
  assert.is(plain.status, 200);
  assert.match(plain.setCookie ?? '', /^tether_console=[A-Za-z0-9_-]{80}; Path=\/console; HttpOnly; SameSite=Strict$/);
  assert.not.ok('session_id' in plain.body.result, 'the session id is in the cookie only');
  // X-Forwarded-Proto from an untrusted peer changes nothing.
  const spoofed = await browser(t, { 'x-forwarded-proto': 'https' }).login(admin);
  assert.not.match(spoofed.setCookie ?? '', /Secure/);

  const proxiedAdmin = await newUser(proxied, { admin: true });
  const host = new URL(proxied.url).host;
  const secure = await browser(proxied, { 'x-forwarded-proto': 'https', origin: `https://${host}` }).login(proxiedAdmin);
  assert.is(secure.status, 200, JSON.stringify(secure.body));
  assert.match(secure.setCookie ?? '', /; HttpOnly; SameSite=Strict; Secure$/);
  // Behind that proxy, the console's own origin is https: an http Origin is another site.
  const mixed = await browser(proxied, { 'x-forwarded-proto': 'https' }).login(proxiedAdmin);
  assert.is(mixed.status, 403);
});

test('admins only: a user who is not an admin is refused, and the session the login opened is ended at once', async () => {
  const user = await newUser(t);
  const b = browser(t);
  const answer = await b.login(user);
  assert.is(answer.body.error?.data?.error_code, 'FORBIDDEN');
  assert.match(answer.body.error.data.detail, /for administrators/);
  assert.is(b.cookie, '');
  const rows = await t.services.sessionRows.listActive({ userId: user.id, limit: 10, offset: 0 });
  assert.is(rows.length, 0);
});

test('/console/api/rpc never hands the page a session id: methods that answer one, and a session_id param, are refused', async () => {
  const admin = await newUser(t, { admin: true });
  const b = browser(t);
  await b.login(admin);
  for (const [method, params] of [
    ['users.login', { login: admin.login, password: admin.password }],
    ['sessions.reauthenticate', { password: admin.password }],
    ['users.change_password', { current_password: admin.password, new_password: `New-${unique('pw')}-pass` }],
  ] as const) {
    const answer = await b.rpc(method, params);
    assert.is(answer.body.error?.data?.error_code, 'FORBIDDEN', method);
    assert.not.match(JSON.stringify(answer.body), /[A-Za-z0-9_-]{80}/);
  }
  const other = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const pinned = await b.rpc('me', { session_id: other.sessionId });
  assert.is(pinned.body.error?.data?.error_code, 'INVALID_PARAMS');
  // The re-authentication route renews the cookie instead.
  const before = b.cookie;
  const renewed = await b.send('reauth', { password: admin.password });
  assert.ok(renewed.body.result?.password_proved_at, JSON.stringify(renewed.body));
  assert.not.ok('session_id' in renewed.body.result);
  assert.ok(b.cookie && b.cookie !== before);
  assert.is((await b.rpc('me')).body.result.user.id, admin.id);
});

test('the console session is an ordinary session: listed, fingerprint-bound, revocable, of the console client only', async () => {
  const admin = await newUser(t, { admin: true });
  const b = browser(t);
  await b.login(admin);
  const operator = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const listed = await operator.call('admin.sessions.list', { user_id: admin.id });
  const [row] = listed.body.result.sessions;
  assert.is(row.client_id, CONSOLE_CLIENT_ID);
  assert.is(row.user_agent, UA);

  // Replayed from another browser (another user agent): a hijack refusal; the owner's next call works.
  const stolen = await b.rpc('me', {}, { 'user-agent': 'Thief/1.0' });
  assert.is(stolen.body.error?.data?.error_code, 'SESSION_INVALID');
  assert.is((await b.rpc('me')).body.result.user.id, admin.id);
  // On /jsonrpc with another client's bearer: the session belongs to the console client.
  const elsewhere = await t.rpc('me', { session_id: b.sessionId() }, { ...operator.headers, 'user-agent': UA });
  assert.is(elsewhere.body.error?.data?.error_code, 'SESSION_INVALID');

  const revoked = await operator.call('admin.sessions.revoke', { id: row.id });
  assert.is(revoked.body.result.revoked, 1);
  assert.is((await b.rpc('me')).body.error?.data?.error_code, 'SESSION_REQUIRED');
});

test('the built-in console client: no secret opens it at the token endpoint; it cannot be rotated or disabled from the console', async () => {
  const response = await fetch(`${t.url}/api/v1/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CONSOLE_CLIENT_ID, client_secret: 'tsec_guess' }) });
  assert.is(response.status, 401);
  const operator = await loggedIn(t, { admin: true, scopes: ['admin'] });
  for (const method of ['admin.clients.rotate_secret', 'admin.clients.disable']) {
    const answer = await operator.call(method, { client_id: CONSOLE_CLIENT_ID });
    assert.is(answer.body.error?.data?.error_code, 'INVALID_PARAMS', method);
  }
});

test('admin.clients.*: listed in rpc.discover; create (secret once), rotate (old secret refused), disable (tokens refused) and enable; audited with the client as target', async () => {
  const discover = await t.rpc('rpc.discover');
  const names = discover.body.result.methods.map((m: { name: string }) => m.name);
  for (const name of ['admin.clients.list', 'admin.clients.create', 'admin.clients.disable', 'admin.clients.enable', 'admin.clients.rotate_secret']) assert.ok(names.includes(name), name);

  const operator = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const unknownScope = await operator.call('admin.clients.create', { name: 'x', scopes: ['root'] });
  assert.is(unknownScope.body.error?.data?.error_code, 'INVALID_PARAMS');
  const made = await operator.call('admin.clients.create', { name: unique('api_client'), scopes: ['admin'] });
  const { client, client_secret: secret } = made.body.result;
  assert.equal(client.scopes, ['admin']);
  const token = await tokenFor(t, { id: client.id, secret });
  const listed = await operator.call('admin.clients.list');
  assert.ok(listed.body.result.known_scopes.includes('admin'));
  const entry = listed.body.result.clients.find((c: { id: string }) => c.id === client.id);
  assert.ok(entry && !JSON.stringify(entry).includes(secret) && !Object.keys(entry).some((k) => /secret/.test(k)));

  const rotated = await operator.call('admin.clients.rotate_secret', { client_id: client.id });
  const fresh = rotated.body.result.client_secret;
  assert.ok(fresh && fresh !== secret);
  await tokenFor(t, { id: client.id, secret }).then(() => assert.unreachable('the old secret still works'), () => {});
  await tokenFor(t, { id: client.id, secret: fresh });

  // A token issued before the rotation lives on until it is disabled.
  const user = await newUser(t);
  const headers = { authorization: `Bearer ${token}`, 'user-agent': UA };
  assert.ok((await t.rpc('users.login', { login: user.login, password: user.password }, headers)).body.result);
  await operator.call('admin.clients.disable', { client_id: client.id });
  assert.is((await t.rpc('users.login', { login: user.login, password: user.password }, headers)).body.error?.data?.error_code, 'TOKEN_REVOKED');
  await operator.call('admin.clients.enable', { client_id: client.id });
  assert.ok((await t.rpc('users.login', { login: user.login, password: user.password }, headers)).body.result);

  await t.services.audit.flush();
  const rows = await t.services.db.sql<{ method: string }[]>`select method from api_access_log where target_id = ${client.id} and status = 200 order by id`;
  assert.equal(rows.map((r) => r.method), ['admin.clients.rotate_secret', 'admin.clients.disable', 'admin.clients.enable']);
  const missing = await operator.call('admin.clients.enable', { client_id: 'cli_nope' });
  assert.is(missing.body.error?.data?.error_code, 'NOT_FOUND');
});

test('admin.stats: logins and refusals (by error_code) per minute, every minute present, and the cache\'s state', async () => {
  const operator = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const client = await newClient(t);
  const headers = { authorization: `Bearer ${await tokenFor(t, client)}`, 'user-agent': UA };
  const user = await newUser(t);
  const before = (await operator.call('admin.stats', { timeline_minutes: 5 })).body.result;
  assert.is(before.timeline.length, 5);
  for (let i = 1; i < 5; i++) assert.is(Date.parse(before.timeline[i].minute) - Date.parse(before.timeline[i - 1].minute), 60_000);
  await t.rpc('users.login', { login: user.login, password: user.password }, headers);
  await t.rpc('users.login', { login: user.login, password: 'wrong' }, headers);
  const stats = (await operator.call('admin.stats', { timeline_minutes: 5 })).body.result;
  const sum = (s: typeof stats, f: (m: (typeof stats.timeline)[number]) => number) => s.timeline.slice(-2).reduce((a: number, m: (typeof stats.timeline)[number]) => a + f(m), 0);
  // The last two minutes (a minute may turn between the calls); lower bounds on shared stores.
  assert.ok(sum(stats, (m) => m.logins) >= sum(before, (m) => m.logins) + 1);
  assert.ok(sum(stats, (m) => m.refusals.AUTHENTICATION_FAILED ?? 0) >= sum(before, (m) => m.refusals.AUTHENTICATION_FAILED ?? 0) + 1);
  assert.is(stats.cache.kind, process.env.REDIS_URL ? 'redis' : 'memory');
  assert.is(stats.cache.reachable, true);
  assert.is(typeof stats.cache.behind, 'boolean');
});

test.run();
