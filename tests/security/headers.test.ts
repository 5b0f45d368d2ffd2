// Response headers: no X-Powered-By anywhere; Cache-Control: no-store on the token endpoint and on
// users.login / users.logout answers (all JSON-RPC answers carry it); CORS off unless CORS_ORIGINS
// lists origins, then preflight answered on RPC paths and Access-Control-Allow-Origin for those
// origins only; Tether never sets a cookie (the session_id cookie is read, never written).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { clientHeaders, loggedIn, newClient, newUser, tokenFor } from '../support/fixtures.ts';
import { loadConfig } from '../../server/config.ts';

const ORIGIN = 'https://app.example.com';
const ORIGIN2 = 'http://localhost:3000';

let t: TestTether;
let cors: TestTether;

test.before(async () => {
  t = await startTestTether({ SWEEP_INTERVAL: '0' });
  cors = await startTestTether({ SWEEP_INTERVAL: '0', CORS_ORIGINS: `${ORIGIN}, ${ORIGIN2}/` });
});
test.after(async () => {
  await Promise.all([t.close(), cors.close()]);
});

async function tokenResponse(tether: TestTether, body: Record<string, string>) {
  return fetch(`${tether.url}/api/v1/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
}

function preflight(tether: TestTether, path: string, origin: string) {
  return fetch(tether.url + path, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
}

test('no X-Powered-By, and an X-Request-Id, on every kind of answer', async () => {
  const s = await loggedIn(t);
  const answers = [
    await t.rpc('system.ping'),
    await t.odoo('users/login', { login: 'x', password: 'y' }, s.headers),
    await t.post('/jsonrpc', 'not json'),
    await t.post('/nowhere', {}),
    await s.call('me'),
  ];
  const raw = [await fetch(`${t.url}/healthz`), await fetch(`${t.url}/jsonrpc`), await tokenResponse(t, { grant_type: 'client_credentials' })];
  for (const headers of [...answers.map((a) => a.headers), ...raw.map((r) => r.headers)]) {
    assert.is(headers.get('x-powered-by'), null);
    assert.match(headers.get('x-request-id') ?? '', /^[A-Za-z0-9._:-]{1,64}$/);
  }
});

test('Cache-Control: no-store on the token endpoint (issued and refused) and on login / logout answers', async () => {
  const client = await newClient(t);
  const issued = await tokenResponse(t, { grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret });
  assert.is(issued.status, 200);
  assert.is(issued.headers.get('cache-control'), 'no-store');
  const refused = await tokenResponse(t, { grant_type: 'client_credentials', client_id: client.id, client_secret: 'wrong' });
  assert.is(refused.status, 401);
  assert.is(refused.headers.get('cache-control'), 'no-store');

  const headers = clientHeaders(await tokenFor(t, client));
  const user = await newUser(t);
  for (const via of ['jsonrpc', 'odoo'] as const) {
    const call = (method: string, params: Record<string, unknown>) => (via === 'jsonrpc' ? t.rpc(method, params, headers) : t.odoo(method.replace('.', '/'), params, headers));
    const ok = await call('users.login', { login: user.login, password: user.password });
    assert.ok(ok.body.result?.session_id, ok.text);
    assert.is(ok.headers.get('cache-control'), 'no-store');
    const failed = await call('users.login', { login: user.login, password: 'wrong' });
    assert.is(failed.body.error.data.error_code, 'AUTHENTICATION_FAILED');
    assert.is(failed.headers.get('cache-control'), 'no-store');
    const out = await call('users.logout', { session_id: ok.body.result.session_id });
    assert.is(out.body.result?.logged_out, true, out.text);
    assert.is(out.headers.get('cache-control'), 'no-store');
  }
});

test('Tether never sets a cookie: no Set-Cookie on login, on calls, or on refusals', async () => {
  const s = await loggedIn(t);
  const login = await t.odoo('users/login', { login: s.user.login, password: s.user.password }, s.headers);
  assert.ok(login.body.result);
  for (const res of [login, await s.call('me'), await t.odoo('me', {}, { ...s.headers, cookie: `session_id=${s.sessionId}` }), await t.rpc('me', {})]) {
    assert.is(res.headers.get('set-cookie'), null);
  }
});

test('CORS off by default: preflight refused (405, no CORS headers), no Access-Control-Allow-Origin on calls', async () => {
  const pre = await preflight(t, '/jsonrpc', ORIGIN);
  assert.is(pre.status, 405);
  assert.is(pre.headers.get('access-control-allow-origin'), null);
  assert.is(pre.headers.get('access-control-allow-methods'), null);
  const res = await t.rpc('system.ping', undefined, { origin: ORIGIN });
  assert.is(res.status, 200);
  assert.is(res.headers.get('access-control-allow-origin'), null);
});

test('CORS_ORIGINS: preflight on /jsonrpc and /api/v1 answered for listed origins only', async () => {
  for (const path of ['/jsonrpc', '/api/v1/users/login', '/api/v1/auth/token']) {
    for (const origin of [ORIGIN, ORIGIN2]) {
      const pre = await preflight(cors, path, origin);
      assert.is(pre.status, 204, path);
      assert.is(pre.headers.get('access-control-allow-origin'), origin);
      assert.is(pre.headers.get('access-control-allow-methods'), 'POST');
      const allowed = (pre.headers.get('access-control-allow-headers') ?? '').toLowerCase();
      for (const h of ['authorization', 'content-type', 'x-openerp-session-id', 'x-client-fingerprint']) assert.ok(allowed.includes(h), `${h} in ${allowed}`);
      assert.match(pre.headers.get('vary') ?? '', /Origin/);
      assert.is(pre.headers.get('access-control-allow-credentials'), null, 'no credentials mode: no cookie is ever set');
    }
    for (const origin of ['https://evil.example', 'null', `${ORIGIN}.evil.example`, 'http://app.example.com']) {
      const pre = await preflight(cors, path, origin);
      assert.is(pre.headers.get('access-control-allow-origin'), null, `${origin} on ${path}`);
      assert.is.not(pre.status, 204);
    }
  }
  // Not an RPC path: no CORS.
  const health = await fetch(`${cors.url}/healthz`, { headers: { origin: ORIGIN } });
  assert.is(health.headers.get('access-control-allow-origin'), null);
});

test('CORS_ORIGINS: calls from a listed origin get Access-Control-Allow-Origin and exposed headers; others do not', async () => {
  const s = await loggedIn(cors);
  const ok = await cors.rpc('me', { session_id: s.sessionId }, { ...s.headers, origin: ORIGIN });
  assert.ok(ok.body.result);
  assert.is(ok.headers.get('access-control-allow-origin'), ORIGIN);
  assert.match(ok.headers.get('access-control-expose-headers') ?? '', /Retry-After/);
  assert.match(ok.headers.get('access-control-expose-headers') ?? '', /X-Request-Id/);
  const refused = await cors.odoo('me', {}, { ...s.headers, origin: ORIGIN2 });
  assert.is(refused.status, 401);
  assert.is(refused.headers.get('access-control-allow-origin'), ORIGIN2, 'errors readable by the listed origin too');
  const evil = await cors.rpc('me', { session_id: s.sessionId }, { ...s.headers, origin: 'https://evil.example' });
  assert.is(evil.headers.get('access-control-allow-origin'), null);
});

test('CORS_ORIGINS is validated: origins only (scheme://host[:port]), http or https', () => {
  assert.equal(loadConfig({}).corsOrigins, []);
  assert.equal(loadConfig({ CORS_ORIGINS: 'https://a.example, http://localhost:8080/' }).corsOrigins, ['https://a.example', 'http://localhost:8080']);
  for (const bad of ['*', 'https://a.example/path', 'ftp://a.example', 'a.example', 'https://a.example?x=1']) {
    assert.throws(() => loadConfig({ CORS_ORIGINS: bad }), /CORS_ORIGINS/, bad);
  }
});

test.run();
