// agents.* (the example domain) and admin.* over real HTTP and the real stores: results checked
// against the tables, params validation (-32602 naming the field), the catalogue's NOT_FOUND and
// FORBIDDEN, and the admin figures after real 401s and a real logout.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { realStores, startTestTether, type TestTether } from './support/tether.ts';
import { clientHeaders, loggedIn, newClient, tokenFor, unique } from './support/fixtures.ts';
import { FIGURES } from './support/modes.ts';
import { untilTrue } from './support/waits.ts';

let t: TestTether;
let s: Awaited<ReturnType<typeof loggedIn>>;
test.before(async () => {
  t = await startTestTether();
  s = await loggedIn(t);
});
test.after(async () => {
  await t.close();
});

type Res = Awaited<ReturnType<TestTether['rpc']>>;

function invalidParams(res: Res, field: string, httpStatus = 200) {
  assert.is(res.status, httpStatus, res.text);
  assert.ok(res.body?.error, `expected an error, got ${res.text}`);
  assert.is(res.body.error.code, -32602, res.text);
  assert.is(res.body.error.message, 'Invalid params');
  assert.is(res.body.error.data.error_code, 'INVALID_PARAMS');
  assert.is(res.body.error.data.field, field, res.text);
}

function forbidden(res: Res, httpStatus = 200) {
  assert.is(res.status, httpStatus, res.text);
  assert.is(res.body?.error?.code, -32003, res.text);
  assert.is(res.body.error.message, 'Forbidden');
  assert.is(res.body.error.status, 403);
  assert.is(res.body.error.data.status, 403);
  assert.is(res.body.error.data.error_code, 'FORBIDDEN');
  assert.not.ok('result' in res.body);
}

const agentRow = async (id: number) => (await t.services.db.sql`select * from agents where id = ${id}`)[0];

// ---------------------------------------------------------------------------------------------- agents

test('agents: create, get, update, deactivate, list: every answer matches the agents table' + FIGURES, async () => {
  const created = await s.call('agents.create', { name: 'Scout', description: 'finds things' });
  assert.is(created.status, 200, created.text);
  const a = created.body.result;
  assert.type(a.id, 'number');
  assert.is(a.name, 'Scout');
  assert.is(a.description, 'finds things');
  assert.is(a.is_active, true);
  assert.is(a.created_by, s.user.id);
  let row = await agentRow(a.id);
  assert.is(row.name, 'Scout');
  assert.is(row.description, 'finds things');
  assert.is(row.is_active, true);
  assert.is(Number(row.created_by), s.user.id);
  assert.is(new Date(a.created_at).getTime(), row.created_at.getTime());

  const got = await s.call('agents.get', { id: a.id });
  assert.equal(got.body.result, a);

  // Description defaults to empty.
  const bare = await s.call('agents.create', { name: 'Bare' });
  assert.is(bare.body.result.description, '');
  assert.is((await agentRow(bare.body.result.id)).description, '');

  // Only the given field changes.
  const renamed = await s.call('agents.update', { id: a.id, name: 'Scout II' });
  assert.is(renamed.body.result.name, 'Scout II');
  assert.is(renamed.body.result.description, 'finds things');
  row = await agentRow(a.id);
  assert.is(row.name, 'Scout II');
  assert.is(row.description, 'finds things');
  assert.ok(row.updated_at.getTime() >= row.created_at.getTime());
  const redescribed = await s.call('agents.update', { id: a.id, description: '' });
  assert.is(redescribed.body.result.name, 'Scout II');
  assert.is(redescribed.body.result.description, '');
  assert.is((await agentRow(a.id)).description, '');

  // The shared table may hold more than a page: look where the new agent sits.
  const [{ ahead }] = await t.services.db.sql`select count(*)::int as ahead from agents where is_active and id < ${a.id}`;
  const listed = await s.call('agents.list', { limit: 1, offset: ahead });
  assert.is(listed.body.result.items[0]?.id, a.id);

  const off = await s.call('agents.deactivate', { id: a.id });
  assert.is(off.body.result.is_active, false);
  assert.is((await agentRow(a.id)).is_active, false);
  // Still readable by id, gone from the default list, back with include_inactive.
  assert.is((await s.call('agents.get', { id: a.id })).body.result.is_active, false);
  const [{ active }] = await t.services.db.sql`select count(*)::int as active from agents where is_active`;
  const after = await s.call('agents.list', { limit: 100, with_total: true });
  // Counted up to 10,000 active agents; beyond (the shared real database collects other files' agents), estimated.
  const slack = after.body.result.total_is_estimate ? active * 0.2 : 5;
  assert.ok(Math.abs(after.body.result.total - active) <= slack, `total ${after.body.result.total} counts active agents (${active})`);
  if (!realStores) assert.is(after.body.result.total, active);
  if (!realStores) assert.is(after.body.result.total_is_estimate, false, 'a small table is counted exactly');
  // Paged past the first 100 if the shared table is large: search by id position.
  const [{ pos }] = await t.services.db.sql`select count(*)::int as pos from agents where id < ${a.id}`;
  const inactive = await s.call('agents.list', { limit: 1, offset: pos, include_inactive: true });
  assert.is(inactive.body.result.items[0].id, a.id);
  assert.is(inactive.body.result.items[0].is_active, false);
  const [{ activeBefore }] = await t.services.db.sql`select count(*)::int as "activeBefore" from agents where is_active and id < ${a.id}`;
  const activeOnly = await s.call('agents.list', { limit: 100, offset: activeBefore });
  assert.not.ok(activeOnly.body.result.items.some((x: { id: number }) => x.id === a.id), 'an inactive agent is not listed by default');
});

test('agents.list: limit and offset page through the table in id order', async () => {
  const ids: number[] = [];
  for (const name of ['p1', 'p2', 'p3']) ids.push((await s.call('agents.create', { name })).body.result.id);
  const [{ pos }] = await t.services.db.sql`select count(*)::int as pos from agents where id < ${ids[0]}`;
  const page = await s.call('agents.list', { limit: 2, offset: pos, include_inactive: true });
  assert.is(page.status, 200, page.text);
  assert.is(page.body.result.limit, 2);
  assert.is(page.body.result.offset, pos);
  const expected = await t.services.db.sql`select id from agents order by id limit 2 offset ${pos}`;
  assert.equal(
    page.body.result.items.map((x: { id: number }) => x.id),
    expected.map((r) => Number(r.id)),
  );
  assert.is(page.body.result.items[0].id, ids[0]);

  // Defaults: 20 from 0.
  const dflt = await s.call('agents.list');
  assert.is(dflt.body.result.limit, 20);
  assert.is(dflt.body.result.offset, 0);
  assert.ok(dflt.body.result.items.length <= 20);
  // The bounds themselves are accepted.
  const one = await s.call('agents.list', { limit: 1 });
  assert.is(one.body.result.items.length, 1);
  const hundred = await s.call('agents.list', { limit: 100 });
  assert.is(hundred.body.result.limit, 100);
  assert.ok(hundred.body.result.items.length <= 100);
  // An offset past the end is an empty page, not an error.
  const past = await s.call('agents.list', { offset: 1_000_000_000 });
  assert.equal(past.body.result.items, []);
  assert.is(past.body.result.next, null);
  assert.not.ok('total' in past.body.result, 'no total unless with_total');
});

test('agents.list: limit outside 1-100, a negative offset and wrong types are -32602 naming the field', async () => {
  invalidParams(await s.call('agents.list', { limit: 0 }), 'limit');
  invalidParams(await s.call('agents.list', { limit: 101 }), 'limit');
  invalidParams(await s.call('agents.list', { limit: -1 }), 'limit');
  invalidParams(await s.call('agents.list', { limit: '5' }), 'limit');
  invalidParams(await s.call('agents.list', { limit: 2.5 }), 'limit');
  invalidParams(await s.call('agents.list', { limit: null }), 'limit');
  invalidParams(await s.call('agents.list', { offset: -1 }), 'offset');
  invalidParams(await s.call('agents.list', { offset: '0' }), 'offset');
  invalidParams(await s.call('agents.list', { include_inactive: 'yes' }), 'include_inactive');
  // Unknown members are refused (the declaration's additionalProperties: false), naming the member.
  invalidParams(await s.call('agents.list', { limit: 5, page: 2 }), 'page');
  // Positional params are not the named object the method declares.
  const positional = await t.rpc('agents.list', [5, 0], { ...s.headers, 'x-openerp-session-id': s.sessionId });
  invalidParams(positional, 'params');
  // session_id is a transport member, never "unknown".
  assert.is((await s.call('agents.list', { limit: 3 })).body.result.limit, 3);
});

test('agents.get/update/deactivate/activate of a missing id: the catalogue NOT_FOUND (404 on /api/v1)', async () => {
  const [{ max }] = await t.services.db.sql`select coalesce(max(id), 0)::bigint as max from agents`;
  const missing = Number(max) + 1000;
  for (const method of ['agents.get', 'agents.deactivate', 'agents.activate']) {
    const res = await s.call(method, { id: missing });
    assert.is(res.status, 200, res.text);
    assert.is(res.body.error.code, -32004);
    assert.is(res.body.error.message, 'Not found');
    assert.is(res.body.error.status, 404);
    assert.is(res.body.error.data.error_code, 'NOT_FOUND');
    assert.ok(String(res.body.error.data.detail).includes(String(missing)));
  }
  const upd = await s.call('agents.update', { id: missing, name: 'x' });
  assert.is(upd.body.error.data.error_code, 'NOT_FOUND');
  assert.is((await t.services.db.sql`select count(*)::int as n from agents where id = ${missing}`)[0].n, 0, 'no row appeared');

  const odoo = await t.odoo('agents/get', { id: missing }, { ...s.headers, 'x-openerp-session-id': s.sessionId });
  assert.is(odoo.status, 404, odoo.text);
  assert.is(odoo.body.error.message, 'Not found');
  assert.is(odoo.body.error.data.error_code, 'NOT_FOUND');
  assert.is(odoo.body.error.data.instance, '/api/v1/agents/get');

  invalidParams(await s.call('agents.get', {}), 'id');
  invalidParams(await s.call('agents.get', { id: 0 }), 'id');
  invalidParams(await s.call('agents.get', { id: '1' }), 'id');
});

// ------------------------------------------------------------------------- agents belong to their creator

const ownerRid = () => unique('own');

async function auditRowsOf(clientRequestId: string) {
  await t.services.audit.flush();
  return t.services.db.sql`select request_id, client_request_id, method, status, error_code, user_id, target_id from api_access_log where client_request_id = ${clientRequestId}`;
}

test("agents.update/deactivate/activate of another user's agent: FORBIDDEN (403 on /api/v1), the row unchanged, the audit row names the agent", async () => {
  const owner = await loggedIn(t);
  const intruder = await loggedIn(t);
  const a = (await owner.call('agents.create', { name: 'Mine', description: 'owned' })).body.result;
  const inactive = (await owner.call('agents.create', { name: 'Resting' })).body.result;
  assert.ok((await owner.call('agents.deactivate', { id: inactive.id })).body.result, 'the creator deactivates');
  const before = await agentRow(a.id);
  const inactiveBefore = await agentRow(inactive.id);

  const attempts: [string, Record<string, unknown>][] = [
    ['agents.update', { id: a.id, name: 'Stolen', description: 'taken' }],
    ['agents.deactivate', { id: a.id }],
    ['agents.activate', { id: inactive.id }],
  ];
  for (const [method, params] of attempts) {
    const id = ownerRid();
    const res = await intruder.call(method, params, { 'x-request-id': id });
    forbidden(res);
    assert.not.ok(res.text.includes('Stolen'));
    const [row] = await auditRowsOf(id);
    assert.ok(row, `an audit row for ${method}`);
    assert.is(row.method, method);
    assert.is(row.status, 403);
    assert.is(row.error_code, 'FORBIDDEN');
    assert.is(Number(row.user_id), intruder.user.id);
    assert.is(row.target_id, String(params.id), `${method}: target_id is the agent's id`);
    // On /api/v1 the HTTP status is the error's.
    forbidden(await t.odoo(method.replace('.', '/'), { session_id: intruder.sessionId, ...params }, intruder.headers), 403);
  }
  assert.equal(await agentRow(a.id), before, 'the agent is unchanged, updated_at included');
  assert.equal(await agentRow(inactive.id), inactiveBefore, 'the inactive agent stays inactive');

  // A batch of the intruder's attempts, 20 times, beside the owner's own update: every attempt refused.
  for (let round = 0; round < 20; round++) {
    const batch = [
      { jsonrpc: '2.0', id: 1, method: 'agents.update', params: { session_id: intruder.sessionId, id: a.id, name: `Stolen ${round}` } },
      { jsonrpc: '2.0', id: 2, method: 'agents.deactivate', params: { session_id: intruder.sessionId, id: a.id } },
    ];
    const [refused, own] = await Promise.all([t.post('/jsonrpc', batch, intruder.headers), owner.call('agents.update', { id: a.id, name: `Mine ${round}` })]);
    assert.is(refused.status, 200);
    for (const answer of refused.body) assert.is(answer.error?.data?.error_code, 'FORBIDDEN', JSON.stringify(answer));
    assert.is(own.body.result?.name, `Mine ${round}`, own.text);
  }
  const after = await agentRow(a.id);
  assert.is(after.name, 'Mine 19');
  assert.is(after.is_active, true);
});

test('agents.update/deactivate/activate: the creator and an admin user may; the audit rows carry target_id', async () => {
  const owner = await loggedIn(t);
  const admin = await loggedIn(t, { admin: true });
  const a = (await owner.call('agents.create', { name: 'Shared' })).body.result;
  const steps: [typeof owner, string, Record<string, unknown>, (row: any) => void][] = [
    [owner, 'agents.update', { id: a.id, description: 'by the owner' }, (row) => assert.is(row.description, 'by the owner')],
    [owner, 'agents.deactivate', { id: a.id }, (row) => assert.is(row.is_active, false)],
    [owner, 'agents.activate', { id: a.id }, (row) => assert.is(row.is_active, true)],
    [admin, 'agents.update', { id: a.id, name: 'Renamed by admin' }, (row) => assert.is(row.name, 'Renamed by admin')],
    [admin, 'agents.deactivate', { id: a.id }, (row) => assert.is(row.is_active, false)],
    [admin, 'agents.activate', { id: a.id }, (row) => assert.is(row.is_active, true)],
    [owner, 'agents.get', { id: a.id }, (row) => assert.is(row.is_active, true)],
  ];
  for (const [who, method, params, check] of steps) {
    const id = ownerRid();
    const res = await who.call(method, params, { 'x-request-id': id });
    assert.is(res.status, 200, res.text);
    assert.ok(res.body.result, `${method}: ${res.text}`);
    const row = await agentRow(a.id);
    check(row);
    assert.is(res.body.result.is_active, row.is_active);
    assert.is(res.body.result.name, row.name);
    assert.is(Number(row.created_by), owner.user.id, 'the creator stays the creator');
    const [audit] = await auditRowsOf(id);
    assert.ok(audit, `an audit row for ${method}`);
    assert.is(audit.status, 200);
    assert.is(audit.target_id, String(a.id), `${method}: target_id`);
    assert.is(Number(audit.user_id), who.user.id);
  }
  // A method that names no object leaves target_id empty.
  const id = ownerRid();
  await owner.call('agents.list', { limit: 1 }, { 'x-request-id': id });
  assert.is((await auditRowsOf(id))[0]?.target_id, null);
});

test('agents.create: a missing, empty or too long name is -32602 naming the field, and writes nothing', async () => {
  const [{ before }] = await t.services.db.sql`select count(*)::int as before from agents where created_by = ${s.user.id}`;
  invalidParams(await s.call('agents.create', {}), 'name');
  invalidParams(await s.call('agents.create', { description: 'no name' }), 'name');
  invalidParams(await s.call('agents.create', { name: '' }), 'name');
  invalidParams(await s.call('agents.create', { name: 'x'.repeat(201) }), 'name');
  invalidParams(await s.call('agents.create', { name: 42 }), 'name');
  invalidParams(await s.call('agents.create', { name: 'ok', description: 'd'.repeat(2001) }), 'description');
  invalidParams(await s.call('agents.create', { name: 'ok', owner: 1 }), 'owner');
  const [{ after }] = await t.services.db.sql`select count(*)::int as after from agents where created_by = ${s.user.id}`;
  assert.is(after, before);
  // The limit itself is fine.
  const longest = await s.call('agents.create', { name: 'n'.repeat(200) });
  assert.is(longest.body.result.name.length, 200);
  // update validates the same way.
  invalidParams(await s.call('agents.update', { id: longest.body.result.id, name: '' }), 'name');
  assert.is((await agentRow(longest.body.result.id)).name, 'n'.repeat(200));
});

test('agents need a bearer and a session', async () => {
  const noBearer = await t.rpc('agents.list', { session_id: s.sessionId }, { 'user-agent': 'TestClient/1.0', 'accept-language': 'en-US' });
  assert.is(noBearer.body.error.message, 'Authorization header is required');
  const noSession = await t.rpc('agents.create', { name: 'nope' }, s.headers);
  assert.is(noSession.body.error.message, 'Session required');
});

test('Odoo path /api/v1/agents is agents.list (session in X-Openerp-Session-Id)', async () => {
  const res = await t.odoo('agents', { limit: 2, offset: 0 }, { ...s.headers, 'x-openerp-session-id': s.sessionId });
  assert.is(res.status, 200, res.text);
  assert.is(res.body.result.limit, 2);
  assert.is(res.body.result.offset, 0);
  assert.ok(res.body.result.items.length <= 2);
  const direct = await s.call('agents.list', { limit: 2, offset: 0 });
  assert.equal(
    res.body.result.items.map((x: { id: number }) => x.id),
    direct.body.result.items.map((x: { id: number }) => x.id),
  );
  // Trailing slash too; and its validation errors are the same -32602 (HTTP 400 on /api/v1, as every error's status).
  const slash = await t.odoo('agents/', { limit: 1 }, { ...s.headers, 'x-openerp-session-id': s.sessionId });
  assert.is(slash.body.result.limit, 1);
  invalidParams(await t.odoo('agents', { limit: 101 }, { ...s.headers, 'x-openerp-session-id': s.sessionId }), 'limit', 400);
  // Without the session: 401 on /api/v1.
  const anon = await t.odoo('agents', {}, s.headers);
  assert.is(anon.status, 401);
  assert.is(anon.body.error.message, 'Session required');
});

// ----------------------------------------------------------------------------------------------- admin

test('admin.*: refused with FORBIDDEN (403) for a non-admin user, and for an admin user whose client lacks scope admin', async () => {
  const plain = await loggedIn(t); // no admin, no scope
  const plainWithScope = await loggedIn(t, { scopes: ['admin'] }); // scope, but not an admin user
  const adminNoScope = await loggedIn(t, { admin: true }); // admin user, client without the scope
  const victim = await loggedIn(t);
  const [{ id: victimRow }] = await t.services.db.sql`select id from api_sessions where user_id = ${victim.user.id} and is_active`;
  for (const who of [plain, plainWithScope, adminNoScope]) {
    forbidden(await who.call('admin.sessions.list'));
    forbidden(await who.call('admin.stats'));
    forbidden(await who.call('admin.sessions.revoke', { id: Number(victimRow) }));
    forbidden(await who.call('admin.sessions.revoke', { user_id: victim.user.id }));
    // On /api/v1 the HTTP status is the error's.
    forbidden(await t.odoo('admin/stats', { session_id: who.sessionId }, who.headers), 403);
    forbidden(await t.odoo('admin/sessions/list', { session_id: who.sessionId }, who.headers), 403);
  }
  // Nothing was revoked.
  const [row] = await t.services.db.sql`select is_active, end_reason from api_sessions where id = ${victimRow}`;
  assert.is(row.is_active, true);
  assert.is(row.end_reason, null);
  assert.is((await victim.call('agents.list', { limit: 1 })).status, 200);
  assert.ok((await victim.call('agents.list', { limit: 1 })).body.result);
  // A refused caller keeps a working session (403 is not a logout).
  assert.ok((await plain.call('agents.list', { limit: 1 })).body.result);
});

test('admin.sessions.list: active sessions with who, where and when; no secrets', async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const other = await loggedIn(t);
  const res = await admin.call('admin.sessions.list', { user_id: other.user.id });
  assert.is(res.status, 200, res.text);
  const sessions = res.body.result.sessions;
  assert.is(sessions.length, 1);
  const [row] = await t.services.db.sql`select * from api_sessions where user_id = ${other.user.id}`;
  assert.is(sessions[0].id, Number(row.id));
  assert.is(sessions[0].user_id, other.user.id);
  assert.is(sessions[0].login, other.user.login);
  assert.is(sessions[0].client_id, other.client.id);
  assert.is(sessions[0].user_agent, 'TestClient/1.0');
  assert.is(sessions[0].ip, row.ip);
  assert.is(new Date(sessions[0].login_at).getTime(), row.login_at.getTime());
  // expires_at is the idle deadline (last activity + idle timeout, at most the absolute end).
  assert.is(new Date(sessions[0].expires_at).getTime(), row.last_activity.getTime() + t.config.sessionIdleTimeout * 1000);
  assert.is(new Date(sessions[0].absolute_expires_at).getTime(), row.expires_at.getTime());
  assert.ok(Date.parse(sessions[0].expires_at) < Date.parse(sessions[0].absolute_expires_at));
  assert.not.ok(res.text.includes(other.sessionId), 'no raw session id');
  assert.not.ok(res.text.includes(row.session_hash), 'no session hash');
  assert.not.ok(res.text.includes(row.security_token), 'no security token');

  const all = await admin.call('admin.sessions.list', { limit: 500 });
  const ids = all.body.result.sessions.map((x: { id: number }) => x.id);
  assert.ok(ids.includes(Number(row.id)) || all.body.result.sessions.length === 500);
  // Newest first.
  const times = all.body.result.sessions.map((x: { login_at: string }) => Date.parse(x.login_at));
  assert.equal(times, [...times].sort((a: number, b: number) => b - a));
  invalidParams(await admin.call('admin.sessions.list', { limit: 501 }), 'limit');
  invalidParams(await admin.call('admin.sessions.list', { user_id: 'me' }), 'user_id');
});

test('admin.sessions.revoke: by id, then the user is refused with Session required and the row says revoked', async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const victim = await loggedIn(t);
  assert.ok((await victim.call('agents.list', { limit: 1 })).body.result, 'works before');
  const [{ id }] = await t.services.db.sql`select id from api_sessions where user_id = ${victim.user.id} and is_active`;
  const res = await admin.call('admin.sessions.revoke', { id: Number(id) });
  assert.is(res.status, 200, res.text);
  assert.equal(res.body.result, { revoked: 1 });

  const after = await victim.call('agents.list', { limit: 1 });
  assert.is(after.body.error.message, 'Session required');
  assert.is(after.body.error.status, 401);
  assert.is(after.body.error.data.error_code, 'SESSION_REQUIRED');
  const odoo = await t.odoo('agents', {}, { ...victim.headers, 'x-openerp-session-id': victim.sessionId });
  assert.is(odoo.status, 401);
  assert.is(odoo.body.error.message, 'Session required');
  const [row] = await t.services.db.sql`select is_active, end_reason from api_sessions where id = ${id}`;
  assert.is(row.is_active, false);
  assert.is(row.end_reason, 'revoked');

  // Again: nothing left to revoke. The admin's own session is untouched.
  assert.equal((await admin.call('admin.sessions.revoke', { id: Number(id) })).body.result, { revoked: 0 });
  assert.ok((await admin.call('admin.sessions.list', { limit: 1 })).body.result);
  invalidParams(await admin.call('admin.sessions.revoke', {}), 'id');
  invalidParams(await admin.call('admin.sessions.revoke', { id: 0 }), 'id');
});

test('admin.sessions.revoke: by user_id ends every session of that user', async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const victim = await loggedIn(t);
  // A second session for the same user, from another client.
  const token2 = await tokenFor(t, await newClient(t));
  const headers2 = clientHeaders(token2);
  const login2 = await t.rpc('users.login', { login: victim.user.login, password: victim.user.password }, headers2);
  const sid2: string = login2.body.result.session_id;
  const res = await admin.call('admin.sessions.revoke', { user_id: victim.user.id });
  assert.equal(res.body.result, { revoked: 2 });
  assert.is((await victim.call('me')).body.error.message, 'Session required');
  assert.is((await t.rpc('me', { session_id: sid2 }, headers2)).body.error.message, 'Session required');
  const rows = await t.services.db.sql`select is_active, end_reason from api_sessions where user_id = ${victim.user.id}`;
  assert.is(rows.length, 2);
  for (const r of rows) {
    assert.is(r.is_active, false);
    assert.is(r.end_reason, 'revoked');
  }
  // The user can log in again: revoking sessions is not disabling the user.
  const again = await t.rpc('users.login', { login: victim.user.login, password: victim.user.password }, victim.headers);
  assert.is(again.body.result.session_id.length, 80);
});

test('admin.stats: active sessions, average session duration, and 401s in the last day' + FIGURES, async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  await t.services.audit.flush();
  const before = (await admin.call('admin.stats')).body.result;
  assert.type(before.active_sessions, 'number');
  assert.type(before.average_session_duration_seconds, 'number');
  assert.type(before.unauthorized_last_day, 'number');
  assert.ok(before.active_sessions >= 1, 'at least the admin session');

  // Three 401s: no bearer, a bad token, an unknown session; and one 403, which is not a 401.
  const noBearer = await t.rpc('agents.list', {}, { 'user-agent': 'x' });
  assert.is(noBearer.body.error.status, 401);
  const badToken = await t.rpc('agents.list', {}, { authorization: 'Bearer not.a.jwt' });
  assert.is(badToken.body.error.status, 401);
  const unknownSession = await t.odoo('agents', { session_id: 'A'.repeat(80) }, admin.headers);
  assert.is(unknownSession.status, 401);
  const plain = await loggedIn(t);
  forbidden(await plain.call('admin.stats'));

  // One session opened, used for over a second, then logged out.
  const user = await loggedIn(t);
  await t.services.audit.flush();
  const during = (await admin.call('admin.stats')).body.result;
  // A session that lasted over a second: logout_at is the database's now(), so its clock is the one
  // polled until it reads a second past login_at (a duration that must pass for real).
  const [{ login_at: loginAt }] = await t.services.db.sql<{ login_at: Date }[]>`select login_at from api_sessions where user_id = ${user.user.id}`;
  assert.ok(
    await untilTrue(30_000, async () => (await t.services.db.sql<{ past: boolean }[]>`select now() >= ${loginAt}::timestamptz + interval '1 second' as past`)[0].past),
    'the database clock passed login_at + 1 s',
  );
  const out = await user.call('users.logout');
  assert.is(out.body.result.logged_out, true);
  const [row] = await t.services.db.sql`select login_at, logout_at, end_reason from api_sessions where user_id = ${user.user.id}`;
  assert.is(row.end_reason, 'logout');
  const duration = (row.logout_at.getTime() - row.login_at.getTime()) / 1000;
  assert.ok(duration >= 1, `logout_at - login_at = ${duration}`);

  await t.services.audit.flush();
  const res = await admin.call('admin.stats');
  assert.is(res.status, 200, res.text);
  const stats = res.body.result;
  for (const key of ['active_sessions', 'average_session_duration_seconds', 'unauthorized_last_day']) assert.type(stats[key], 'number', key);
  assert.ok(stats.average_session_duration_seconds > 0);
  if (realStores) {
    // A shared database: other sessions and 401s come and go; ours are at least there.
    assert.ok(stats.unauthorized_last_day >= before.unauthorized_last_day + 3, JSON.stringify({ before, stats }));
    assert.ok(during.active_sessions >= 3);
  } else {
    // Only this file's server writes these stores.
    assert.is(stats.unauthorized_last_day, before.unauthorized_last_day + 3, JSON.stringify({ before, stats }));
    assert.is(during.active_sessions, before.active_sessions + 2, 'plain and user logged in');
    assert.is(stats.active_sessions, during.active_sessions - 1, 'the logout ended one');
    // This file logs out exactly one session: the average is its duration.
    assert.ok(Math.abs(stats.average_session_duration_seconds - duration) <= 0.1, JSON.stringify({ stats, duration }));
  }
  // The figures are the audit log's and the sessions table's.
  const [{ n401 }] = await t.services.db.sql`select count(*)::int as n401 from api_access_log where status = 401 and at > now() - interval '1 day'`;
  assert.ok(n401 >= stats.unauthorized_last_day);
  const [{ codes }] = await t.services.db.sql`
    select array_agg(error_code order by at) as codes from api_access_log where status = 401 and request_id = any(${[
      noBearer.headers.get('x-request-id'),
      badToken.headers.get('x-request-id'),
      unknownSession.headers.get('x-request-id'),
    ] as string[]})`;
  assert.equal(codes, ['AUTH_HEADER_REQUIRED', 'TOKEN_INVALID', 'SESSION_REQUIRED']);
  invalidParams(await admin.call('admin.stats', { since: 'yesterday' }), 'since');
});

test.run();
