// Odoo-style clients, unmodified, over real HTTP: on /api/v1/ paths every request gets an answer (a
// request without id is answered with "id": null and the normal status; a batch answers every
// element), while /jsonrpc keeps JSON-RPC 2.0's notifications; Odoo's envelope params `context` and
// `db` are accepted and ignored by every method on both endpoints; `params: []` means no params; an
// unknown /api/v1/ path answers with the body's id.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from './support/tether.ts';
import { clientHeaders, loggedIn, newClient, newUser, tokenFor } from './support/fixtures.ts';
import { hashOf } from '../server/sessions/sessionId.ts';
import { methods } from '../rpc-methods/index.ts';

let t: TestTether;
test.before(async () => {
  t = await startTestTether();
});
test.after(async () => {
  await t?.close();
});

const odooPath = (method: string) => `/api/v1/${method.split('.').join('/')}`;
/** An Odoo-style body, as the guide's examples write it: no id. */
const call = (params: unknown) => ({ jsonrpc: '2.0', method: 'call', params });

async function activeSessionsOf(userId: number): Promise<number> {
  const [{ n }] = await t.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_sessions where user_id = ${userId} and is_active`;
  return n;
}

test('login without id on /api/v1/users/login: answered (id null, 200) with its session_id, exactly one active session; the session works', async () => {
  const token = await tokenFor(t, await newClient(t));
  const user = await newUser(t);
  const res = await t.post('/api/v1/users/login', call({ login: user.login, password: user.password }), clientHeaders(token));
  assert.is(res.status, 200, res.text);
  assert.ok('id' in res.body, 'the answer has an id member');
  assert.is(res.body.id, null);
  assert.is(res.body.jsonrpc, '2.0');
  const sessionId: string = res.body.result.session_id;
  assert.match(sessionId, /^[A-Za-z0-9_-]{80}$/);
  assert.is(await activeSessionsOf(user.id), 1, 'exactly one active session, the one answered');
  const [row] = await t.services.db.sql<{ is_active: boolean }[]>`select is_active from api_sessions where session_hash = ${hashOf(sessionId)}`;
  assert.is(row.is_active, true);
  const me = await t.post('/api/v1/me', call({ session_id: sessionId }), clientHeaders(token));
  assert.is(me.status, 200);
  assert.is(me.body.id, null);
  assert.is(me.body.result.user.id, user.id);
  // A logout without id answers too, and ends the session.
  const out = await t.post('/api/v1/users/logout', call({ session_id: sessionId }), clientHeaders(token));
  assert.is(out.status, 200);
  assert.equal(out.body, { jsonrpc: '2.0', id: null, result: { logged_out: true } });
  assert.is(await activeSessionsOf(user.id), 0);
});

test('the same login without id on /jsonrpc is a JSON-RPC notification: 204, no body (the session opens, its id is never told)', async () => {
  const token = await tokenFor(t, await newClient(t));
  const user = await newUser(t);
  const res = await t.post('/jsonrpc', { jsonrpc: '2.0', method: 'users.login', params: { login: user.login, password: user.password } }, clientHeaders(token));
  assert.is(res.status, 204);
  assert.is(res.text, '');
  assert.is(await activeSessionsOf(user.id), 1, 'a notification is still carried out (JSON-RPC 2.0), which is why the README says to send an id on /jsonrpc');
});

test("no id on /api/v1: errors too are answered with id null and the error's HTTP status (the guide's \"Session required\" example)", async () => {
  const token = await tokenFor(t, await newClient(t));
  const required = await t.post('/api/v1/agents', call({ limit: 10 }), clientHeaders(token));
  assert.is(required.status, 401);
  assert.is(required.body.id, null);
  assert.is(required.body.error.message, 'Session required');
  assert.is(required.body.error.status, 401);
  const noBearer = await t.post('/api/v1/agents', call({ limit: 10 }));
  assert.is(noBearer.status, 401);
  assert.is(noBearer.body.id, null);
  assert.is(noBearer.body.error.data.error_code, 'AUTH_HEADER_REQUIRED');
  const invalid = await t.post('/api/v1/system/ping', call({ extra: 1 }));
  assert.is(invalid.status, 400);
  assert.is(invalid.body.id, null);
  assert.is(invalid.body.error.data.error_code, 'INVALID_PARAMS');
  const ping = await t.post('/api/v1/system/ping', { jsonrpc: '2.0', method: 'call' });
  assert.is(ping.status, 200);
  assert.equal(ping.body.id, null);
  assert.is(ping.body.result.pong, true);
  // An explicit id is still echoed unchanged.
  const withId = await t.post('/api/v1/system/ping', { jsonrpc: '2.0', id: 'abc', method: 'call' });
  assert.is(withId.body.id, 'abc');
});

test('batches on /api/v1 answer every element (ids null where none was sent); /jsonrpc answers only the elements with an id', async () => {
  const elements = [
    { jsonrpc: '2.0', method: 'call' },
    { jsonrpc: '2.0', id: 7, method: 'call' },
    { jsonrpc: '2.0', method: 'call', params: { nope: 1 } },
  ];
  const odoo = await t.post('/api/v1/system/ping', elements);
  assert.is(odoo.status, 200);
  assert.is(odoo.body.length, 3, 'one answer per element');
  assert.equal(odoo.body.map((a: { id: unknown }) => a.id).sort(), [7, null, null].sort());
  assert.is(odoo.body.filter((a: { result?: unknown }) => a.result).length, 2);
  assert.is(odoo.body.find((a: { error?: { data: { error_code: string } } }) => a.error)?.error.data.error_code, 'INVALID_PARAMS');
  const allWithoutId = await t.post('/api/v1/system/ping', [{ jsonrpc: '2.0', method: 'call' }, { jsonrpc: '2.0', method: 'call' }]);
  assert.is(allWithoutId.status, 200);
  assert.is(allWithoutId.body.length, 2);

  const rpc = await t.post('/jsonrpc', [
    { jsonrpc: '2.0', method: 'system.ping' },
    { jsonrpc: '2.0', id: 7, method: 'system.ping' },
  ]);
  assert.is(rpc.status, 200);
  assert.equal(rpc.body.map((a: { id: unknown }) => a.id), [7]);
  const rpcNone = await t.post('/jsonrpc', [{ jsonrpc: '2.0', method: 'system.ping' }]);
  assert.is(rpcNone.status, 204);
});

test('an unknown /api/v1/ path answers 404 with the id the body had (null when none, or not JSON)', async () => {
  for (const id of [7, 'req-7']) {
    const res = await t.post('/api/v1/no/such/method', { jsonrpc: '2.0', id, method: 'call', params: {} });
    assert.is(res.status, 404);
    assert.is(res.body.id, id);
    assert.is(res.body.error.data.error_code, 'PATH_NOT_FOUND');
  }
  assert.is((await t.post('/api/v1/no/such/method', call({}))).body.id, null);
  assert.is((await t.post('/api/v1/no/such/method', '{not json')).body.id, null);
  assert.is((await t.post('/api/v1/no/such/method', [{ jsonrpc: '2.0', id: 1, method: 'call' }])).body.id, null);
});

const ENVELOPE = { context: { lang: 'en_US', tz: 'Europe/Brussels', uid: 2, allowed_company_ids: [1] }, db: 'odoo_production' };

test('context (object) and db (string) are accepted and ignored by every method, on both endpoints: the answer is the one without them', async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  // users.logout would end the session the loop uses: it is tried last, on a session of its own.
  const names = methods.map((m) => m.name).filter((n) => n !== 'users.logout');
  names.push('rpc.discover');
  const outcome = (res: { body: any }) => (res.body?.result !== undefined ? 'result' : `${res.body?.error?.data?.error_code}:${res.body?.error?.data?.field ?? ''}`);
  for (const name of names) {
    for (const via of ['jsonrpc', 'odoo'] as const) {
      const send = (params: Record<string, unknown>) =>
        via === 'jsonrpc' ? t.rpc(name, params, admin.headers) : t.post(odooPath(name), { jsonrpc: '2.0', id: 1, method: 'call', params }, admin.headers);
      const plain = await send({ session_id: admin.sessionId });
      const enveloped = await send({ session_id: admin.sessionId, ...ENVELOPE });
      assert.is(outcome(enveloped), outcome(plain), `${name} on ${via}: ${enveloped.text.slice(0, 300)}`);
      assert.not.match(enveloped.text, /"field":"(context|db)"/, `${name} on ${via}`);
    }
  }
  const own = await loggedIn(t);
  const out = await t.post('/api/v1/users/logout', call({ session_id: own.sessionId, ...ENVELOPE }), own.headers);
  assert.is(out.status, 200, out.text);
  assert.is(out.body.result.logged_out, true);
  // A login with the envelope, as an Odoo client sends it.
  const user = await newUser(t);
  const login = await t.rpc('users.login', { login: user.login, password: user.password, ...ENVELOPE }, own.headers);
  assert.is(login.body.result.user.id, user.id, login.text);
});

test('any other unknown param is still refused (-32602 naming it), and so are a context that is not an object and a db that is not a string', async () => {
  const s = await loggedIn(t);
  const cases: [Record<string, unknown>, string][] = [
    [{ ...ENVELOPE, lang: 'en_US' }, 'lang'],
    [{ context: 'en_US' }, 'context'],
    [{ context: null }, 'context'],
    [{ db: 1 }, 'db'],
  ];
  for (const [params, field] of cases) {
    for (const res of [await s.call('me', params), await t.post('/api/v1/me', call({ session_id: s.sessionId, ...params }), s.headers)]) {
      assert.ok(res.body.error, res.text);
      assert.is(res.body.error.code, -32602);
      assert.is(res.body.error.data.field, field, res.text);
    }
  }
});

test('the OpenRPC document lists context and db on every method, as accepted and ignored', async () => {
  const doc = (await t.rpc('rpc.discover')).body.result;
  for (const method of doc.methods) {
    for (const name of ['context', 'db']) {
      const param = method.params.find((p: { name: string }) => p.name === name);
      assert.ok(param, `${method.name} lists ${name}`);
      assert.is(param.required, false);
      assert.match(param.schema.description, /ignored/);
    }
  }
});

test('params: [] means no params (system.ping, rpc.discover, me, agents.list) on both endpoints; a non-empty array, or [] where params are required, is -32602 asking for named params', async () => {
  const s = await loggedIn(t);
  const withHeader = { ...s.headers, 'x-openerp-session-id': s.sessionId };
  for (const name of ['system.ping', 'rpc.discover', 'me', 'agents.list']) {
    const viaRpc = await t.rpc(name, [], withHeader);
    assert.ok(viaRpc.body.result, `${name} on /jsonrpc: ${viaRpc.text.slice(0, 200)}`);
    const viaOdoo = await t.post(odooPath(name), { jsonrpc: '2.0', id: 1, method: 'call', params: [] }, withHeader);
    assert.is(viaOdoo.status, 200, `${name} on /api/v1: ${viaOdoo.text.slice(0, 200)}`);
    assert.ok(viaOdoo.body.result);
  }
  const refusals = [
    await t.rpc('system.ping', [1]),
    await t.post('/api/v1/system/ping', { jsonrpc: '2.0', id: 1, method: 'call', params: ['x'] }),
    await t.rpc('users.login', [], s.headers),
    await t.rpc('users.login', ['someone', 'password'], s.headers),
  ];
  for (const res of refusals) {
    assert.ok(res.body.error, res.text);
    assert.is(res.body.error.code, -32602);
    assert.is(res.body.error.data.field, 'params');
    assert.match(res.body.error.data.detail, /named/);
  }
  assert.is(refusals[1].status, 400);
});

test.run();
