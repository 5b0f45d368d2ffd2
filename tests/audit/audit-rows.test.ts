// The audit log, one api_access_log row per call: successes, every catalogue and protocol error we can
// provoke, each element of a batch, transport refusals and the token endpoint, each with the right
// columns and never a whole session id. Then the admin views over it: admin.audit.query (filters,
// newest first, keyset pagination, parameter errors, admin only) and admin.stats (hijacks by
// component, session ends by reason). Rows are matched by the X-Request-Id each call sends (client_request_id).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { realStores, startTestTether, type TestTether } from '../support/tether.ts';
import { UA, clientHeaders, loggedIn, newClient, newUser, tokenFor, unique } from '../support/fixtures.ts';
import { FIGURES } from '../support/modes.ts';

let t: TestTether;

test.before(async () => {
  // No sweeper: nothing ends sessions behind the test's back. A cap of 2 sessions per user.
  t = await startTestTether({ SWEEP_INTERVAL: '0', MAX_SESSIONS_PER_USER: '2' });
});
test.after(async () => {
  await t?.close();
});

interface AuditRow {
  id: number;
  at: Date;
  request_id: string;
  method: string;
  status: number;
  error_code: string | null;
  reason: string | null;
  duration_ms: number;
  user_id: number | null;
  client_id: string | null;
  session_hash_prefix: string | null;
  ip: string | null;
  user_agent: string | null;
  target_id: string | null;
  client_request_id: string | null;
}

const rid = () => unique('aud');
const hashPrefix = (sessionId: string) => createHash('sha256').update(sessionId).digest('hex').slice(0, 16);
const fullHash = (sessionId: string) => createHash('sha256').update(sessionId).digest('hex');

async function rowsOf(requestId: string): Promise<AuditRow[]> {
  await t.services.audit.flush();
  // Each call sends its own X-Request-Id: the row keeps it as client_request_id, beside the service's request_id.
  const rows = await t.services.db.sql<AuditRow[]>`select * from api_access_log where client_request_id = ${requestId} order by id`;
  return rows.map((r) => ({ ...r, id: Number(r.id), user_id: r.user_id === null ? null : Number(r.user_id) }));
}

/** Exactly one row for the request id; answers it. */
async function oneRow(requestId: string): Promise<AuditRow> {
  const rows = await rowsOf(requestId);
  assert.is(rows.length, 1, `exactly one audit row for ${requestId}, got ${rows.length}: ${JSON.stringify(rows)}`);
  return rows[0];
}

function expectRow(row: AuditRow, expected: Partial<AuditRow>) {
  for (const [key, value] of Object.entries(expected)) {
    assert.equal((row as unknown as Record<string, unknown>)[key], value, `column ${key} of ${row.request_id} (${row.method})`);
  }
  assert.ok(row.at instanceof Date && Math.abs(Date.now() - row.at.getTime()) < 120_000, 'at is the time of the call');
  assert.ok(typeof row.duration_ms === 'number' && row.duration_ms >= 0, 'duration_ms recorded');
}

/** The raw session id never lands in the audit log, in any column (nor the whole hash the table is keyed by). */
function noSessionId(row: AuditRow, sessionId: string) {
  const text = JSON.stringify(row);
  assert.not.ok(text.includes(sessionId), `the whole session id is in the row: ${text}`);
  assert.not.ok(text.includes(fullHash(sessionId)), 'the whole session hash is in the row');
}

const errorOf = (res: { body: any }) => res.body?.error;

test('a call does not wait for its audit row: answered while the audit table is locked, the row comes after', async () => {
  const first = rid();
  const second = rid();
  const depths: number[] = [];
  // While this transaction holds the table (embedded: also the one pooled connection), no audit
  // insert can complete; a call that waited for its row could not be answered.
  await t.services.db.sql.begin(async (tx) => {
    await tx`lock table api_access_log in exclusive mode`;
    const a = await t.rpc('system.ping', {}, { 'x-request-id': first });
    assert.is(a.status, 200);
    assert.is(a.body.result.pong, true);
    depths.push(t.services.audit.depth());
    const b = await t.rpc('system.ping', {}, { 'x-request-id': second });
    assert.is(b.body.result.pong, true);
    depths.push(t.services.audit.depth());
    const [{ n }] = await tx<{ n: number }[]>`select count(*)::int as n from api_access_log where client_request_id in (${first}, ${second})`;
    assert.is(n, 0, 'the rows are not written yet when the answers arrive');
  });
  // Either the first row was still queued, or a write was in flight (blocked) and the second row queued behind it.
  assert.ok(depths.some((d) => d > 0), `rows waited in the queue after the answer: depths ${depths}`);
  await oneRow(first);
  await oneRow(second);
});

test('one row per call, with its columns: success and the catalogue errors', async () => {
  const s = await loggedIn(t);
  const prefix = hashPrefix(s.sessionId);
  const base = { ip: '127.0.0.1' };

  // Success.
  let id = rid();
  let res = await s.call('me', {}, { 'x-request-id': id });
  assert.ok(res.body.result, res.text);
  let row = await oneRow(id);
  expectRow(row, { ...base, method: 'me', status: 200, error_code: null, user_id: s.user.id, client_id: s.client.id, session_hash_prefix: prefix, user_agent: UA });
  noSessionId(row, s.sessionId);

  // AUTH_HEADER_REQUIRED: no bearer at all; nothing known about the caller.
  id = rid();
  res = await t.rpc('me', { session_id: s.sessionId }, { 'user-agent': UA, 'x-request-id': id });
  assert.is(errorOf(res).data.error_code, 'AUTH_HEADER_REQUIRED');
  row = await oneRow(id);
  expectRow(row, { ...base, method: 'me', status: 401, error_code: 'AUTH_HEADER_REQUIRED', user_id: null, client_id: null, session_hash_prefix: null, user_agent: UA });
  noSessionId(row, s.sessionId);

  // TOKEN_INVALID.
  id = rid();
  res = await t.rpc('me', { session_id: s.sessionId }, { authorization: 'Bearer abc.def.ghi', 'user-agent': UA, 'x-request-id': id });
  assert.is(errorOf(res).data.error_code, 'TOKEN_INVALID');
  expectRow(await oneRow(id), { ...base, method: 'me', status: 401, error_code: 'TOKEN_INVALID', user_id: null, client_id: null, session_hash_prefix: null });

  // SESSION_REQUIRED: a good bearer, no session_id.
  id = rid();
  res = await t.rpc('me', {}, { ...s.headers, 'x-request-id': id });
  assert.is(errorOf(res).data.error_code, 'SESSION_REQUIRED');
  expectRow(await oneRow(id), { ...base, method: 'me', status: 401, error_code: 'SESSION_REQUIRED', user_id: null, client_id: s.client.id, session_hash_prefix: null });

  // SESSION_ID_FORMAT: a truncated id.
  id = rid();
  const truncated = s.sessionId.slice(0, 40);
  res = await t.rpc('me', { session_id: truncated }, { ...s.headers, 'x-request-id': id });
  assert.is(errorOf(res).data.error_code, 'SESSION_ID_FORMAT');
  row = await oneRow(id);
  expectRow(row, { ...base, method: 'me', status: 401, error_code: 'SESSION_ID_FORMAT', client_id: s.client.id, session_hash_prefix: null });
  assert.not.ok(JSON.stringify(row).includes(truncated), 'not even the truncated id is kept');

  // SESSION_INVALID, user agent changed: the reason names the component; the row keeps the new UA.
  id = rid();
  res = await s.call('me', {}, { 'user-agent': 'Intruder/9.9', 'x-request-id': id });
  assert.is(errorOf(res).data.error_code, 'SESSION_INVALID');
  row = await oneRow(id);
  expectRow(row, { ...base, method: 'me', status: 401, error_code: 'SESSION_INVALID', reason: 'user-agent', user_id: s.user.id, client_id: s.client.id, session_hash_prefix: prefix, user_agent: 'Intruder/9.9' });
  noSessionId(row, s.sessionId);

  // INVALID_PARAMS on a session-bound method.
  id = rid();
  res = await s.call('agents.list', { limit: 'many' }, { 'x-request-id': id });
  assert.is(errorOf(res).code, -32602);
  expectRow(await oneRow(id), { ...base, method: 'agents.list', status: 400, error_code: 'INVALID_PARAMS', user_id: s.user.id, client_id: s.client.id, session_hash_prefix: prefix });

  // METHOD_NOT_FOUND: the row keeps the name that was asked for.
  id = rid();
  res = await t.rpc('no.such.method', {}, { 'x-request-id': id, 'user-agent': UA });
  assert.is(errorOf(res).code, -32601);
  expectRow(await oneRow(id), { ...base, method: 'no.such.method', status: 404, error_code: 'METHOD_NOT_FOUND', user_id: null, client_id: null });

  // Odoo style: the path names the method, the session comes from the header.
  id = rid();
  res = await t.odoo('agents', {}, { ...s.headers, 'x-openerp-session-id': s.sessionId, 'x-request-id': id });
  assert.is(res.status, 200, res.text);
  row = await oneRow(id);
  expectRow(row, { ...base, method: 'agents.list', status: 200, error_code: null, user_id: s.user.id, client_id: s.client.id, session_hash_prefix: prefix });
  noSessionId(row, s.sessionId);
});

test('protocol errors: one row each (parse error, invalid request, empty batch, batch too large)', async () => {
  let id = rid();
  let res = await t.post('/jsonrpc', '{"jsonrpc": "2.0", "method": ', { 'x-request-id': id, 'user-agent': UA });
  assert.is(errorOf(res).code, -32700);
  expectRow(await oneRow(id), { method: '(none)', status: 400, error_code: 'PARSE_ERROR', ip: '127.0.0.1', user_agent: UA });

  id = rid();
  res = await t.post('/jsonrpc', { jsonrpc: '2.0', method: 1, params: 'bar' }, { 'x-request-id': id });
  assert.is(errorOf(res).code, -32600);
  expectRow(await oneRow(id), { method: '(invalid)', status: 400, error_code: 'INVALID_REQUEST' });

  id = rid();
  res = await t.post('/jsonrpc', [], { 'x-request-id': id });
  assert.is(errorOf(res).code, -32600);
  expectRow(await oneRow(id), { method: '(none)', status: 400, error_code: 'INVALID_REQUEST' });

  id = rid();
  const big = Array.from({ length: t.config.batchLimit + 1 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'system.ping' }));
  res = await t.post('/jsonrpc', big, { 'x-request-id': id });
  assert.is(errorOf(res).code, -32600);
  assert.is(errorOf(res).data.error_code, 'BATCH_TOO_LARGE');
  const rows = await rowsOf(id);
  assert.is(rows.length, 1, 'a refused batch is one call, not one per element');
  expectRow(rows[0], { method: '(none)', status: 400, error_code: 'BATCH_TOO_LARGE' });
});

test('text COPY treats as syntax is kept exactly: backslash, tab, newline, carriage return, \\N, quotes', async () => {
  // Real PostgreSQL takes fresh rows by COPY (text format), the embedded database by INSERT: both must
  // store what the caller sent, byte for byte (U+0000 aside: PostgreSQL text cannot hold it).
  const method = 'x\\y\tz\nw\r\\N"\'{a,b}é';
  const spooledBefore = t.services.audit.counters.spooled;
  const id = rid();
  const res = await t.post('/jsonrpc', { jsonrpc: '2.0', id: 1, method }, { 'x-request-id': id, 'user-agent': 'ua\\N\ttab' });
  assert.is(errorOf(res).code, -32601);
  expectRow(await oneRow(id), { method, status: 404, error_code: 'METHOD_NOT_FOUND', user_agent: 'ua\\N\ttab' });
  // Written as it came, not refused and rescued by the spool's replay.
  assert.is(t.services.audit.counters.spooled, spooledBefore, 'the batch was written, not spooled');
});

test('audit writes never take a connection a call needs: 20 rounds of 60 parallel agents.list, every call 200, every row written', async () => {
  // postgres.js pipelines a query onto a busy connection; one that landed on the connection writing
  // audit rows by COPY failed (COPY_IN_PROGRESS) and answered 503.
  const s = await loggedIn(t);
  const spooledBefore = t.services.audit.counters.spooled;
  const id = rid();
  for (let round = 0; round < 20; round++) {
    const flushing = t.services.audit.flush();
    const answers = await Promise.all(Array.from({ length: 60 }, () => s.call('agents.list', {}, { 'x-request-id': id })));
    await flushing;
    const refused = answers.filter((a) => a.status !== 200).map((a) => `${a.status} ${a.body?.error?.message}`);
    assert.equal(refused, [], `round ${round}: every call answered 200`);
  }
  assert.is((await rowsOf(id)).length, 20 * 60, 'one row per call');
  assert.is(t.services.audit.counters.spooled, spooledBefore, 'written, not spooled');
});

test('a batch: one row per element (notifications included), all under the request id', async () => {
  const s = await loggedIn(t);
  const id = rid();
  const batch = [
    { jsonrpc: '2.0', id: 1, method: 'system.ping' },
    { jsonrpc: '2.0', id: 2, method: 'me', params: { session_id: s.sessionId } },
    { jsonrpc: '2.0', id: 3, method: 'nope.nothing' },
    { jsonrpc: '2.0', method: 'system.ping' }, // a notification: no answer, still a call
    { jsonrpc: '2.0', id: 5, method: 'me', params: { session_id: 'x'.repeat(10) } },
  ];
  const res = await t.post('/jsonrpc', batch, { ...s.headers, 'x-request-id': id });
  assert.is(res.status, 200);
  assert.is(res.body.length, 4, 'four answers (the notification gets none)');
  const rows = await rowsOf(id);
  assert.is(rows.length, batch.length, `one row per element: ${JSON.stringify(rows.map((r) => r.method))}`);
  const summary = rows.map((r) => `${r.method}:${r.status}:${r.error_code ?? 'ok'}`).sort();
  assert.equal(summary, ['me:200:ok', 'me:401:SESSION_ID_FORMAT', 'nope.nothing:404:METHOD_NOT_FOUND', 'system.ping:200:ok', 'system.ping:200:ok'].sort());
  const me = rows.find((r) => r.method === 'me' && r.status === 200)!;
  expectRow(me, { user_id: s.user.id, client_id: s.client.id, session_hash_prefix: hashPrefix(s.sessionId) });
  for (const r of rows) noSessionId(r, s.sessionId);
});

test('transport refusals are audited: 415, 405, 404', async () => {
  let id = rid();
  let res = await t.post('/jsonrpc', 'hello', { 'content-type': 'text/plain', 'x-request-id': id, 'user-agent': UA });
  assert.is(res.status, 415);
  expectRow(await oneRow(id), { method: 'POST /jsonrpc', status: 415, error_code: 'UNSUPPORTED_MEDIA_TYPE', user_agent: UA, user_id: null, client_id: null });

  id = rid();
  const get = await fetch(`${t.url}/jsonrpc`, { headers: { 'x-request-id': id, 'user-agent': UA } });
  assert.is(get.status, 405);
  await get.text();
  expectRow(await oneRow(id), { method: 'GET /jsonrpc', status: 405, error_code: 'METHOD_NOT_ALLOWED' });

  id = rid();
  res = await t.post('/no/such/path', {}, { 'x-request-id': id });
  assert.is(res.status, 404);
  expectRow(await oneRow(id), { method: 'POST /no/such/path', status: 404, error_code: 'PATH_NOT_FOUND' });

  id = rid();
  res = await t.post('/api/v1/no/such/method', { jsonrpc: '2.0', id: 1, method: 'call', params: {} }, { 'x-request-id': id });
  assert.is(res.status, 404);
  expectRow(await oneRow(id), { method: 'POST /api/v1/no/such/method', status: 404, error_code: 'PATH_NOT_FOUND' });
});

test('the token endpoint is audited as auth.token (issued and refused)', async () => {
  const client = await newClient(t);
  let id = rid();
  let res = await fetch(`${t.url}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': id, 'user-agent': UA },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret }),
  });
  assert.is(res.status, 200);
  const body = (await res.json()) as { access_token: string };
  let row = await oneRow(id);
  expectRow(row, { method: 'auth.token', status: 200, error_code: null, client_id: client.id, user_id: null, ip: '127.0.0.1', user_agent: UA });
  assert.not.ok(JSON.stringify(row).includes(body.access_token), 'the access token is not in the row');
  assert.not.ok(JSON.stringify(row).includes(client.secret), 'the secret is not in the row');

  id = rid();
  res = await fetch(`${t.url}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': id },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: client.id, client_secret: 'wrong-secret' }),
  });
  assert.is(res.status, 401);
  await res.text();
  row = await oneRow(id);
  expectRow(row, { method: 'auth.token', status: 401, error_code: 'invalid_client', client_id: null });
  assert.not.ok(JSON.stringify(row).includes('wrong-secret'));
});

// ---- admin.audit.query ----

const query = (admin: Awaited<ReturnType<typeof loggedIn>>, params: Record<string, unknown>) => admin.call('admin.audit.query', params);

test('admin.audit.query: filters by user, client, method, status, error_code and time; newest first', async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const s = await loggedIn(t);
  const other = await loggedIn(t);
  const ids = { ok: rid(), ua: rid(), params: rid(), other: rid() };
  assert.ok((await s.call('me', {}, { 'x-request-id': ids.ok })).body.result);
  await s.call('me', {}, { 'user-agent': 'Changed/1.0', 'x-request-id': ids.ua });
  await s.call('agents.list', { offset: -1 }, { 'x-request-id': ids.params });
  assert.ok((await other.call('me', {}, { 'x-request-id': ids.other })).body.result);

  const rowsFor = async (params: Record<string, unknown>) => {
    const res = await query(admin, params);
    assert.ok(res.body.result, `admin.audit.query ${JSON.stringify(params)}: ${res.text}`);
    return res.body.result.rows as (Omit<AuditRow, 'at'> & { at: string })[];
  };

  // Client: this user's client made the login, three calls; the other client's rows are not there.
  let rows = await rowsFor({ client_id: s.client.id });
  assert.ok(rows.length >= 4, `login + 3 calls, got ${rows.length}`);
  assert.ok(rows.every((r) => r.client_id === s.client.id));
  const requestIds = rows.map((r) => r.client_request_id);
  for (const id of [ids.ok, ids.ua, ids.params]) assert.ok(requestIds.includes(id), `${id} listed`);
  assert.not.ok(requestIds.includes(ids.other));
  // Newest first: (at, id) descending.
  for (let i = 1; i < rows.length; i++) {
    const [a, b] = [rows[i - 1], rows[i]];
    assert.ok(a.at > b.at || (a.at === b.at && a.id > b.id), `newest first at ${i}: ${a.at}/${a.id} then ${b.at}/${b.id}`);
  }
  // The session column is the hash prefix, never the id.
  assert.ok(rows.filter((r) => r.session_hash_prefix).every((r) => r.session_hash_prefix === hashPrefix(s.sessionId)));
  assert.not.ok(JSON.stringify(rows).includes(s.sessionId));

  rows = await rowsFor({ user_id: s.user.id });
  assert.ok(rows.length >= 4 && rows.every((r) => r.user_id === s.user.id));
  assert.not.ok(rows.some((r) => r.client_request_id === ids.other));

  rows = await rowsFor({ client_id: s.client.id, method: 'me' });
  assert.equal(rows.map((r) => r.client_request_id).sort(), [ids.ok, ids.ua].sort());

  rows = await rowsFor({ client_id: s.client.id, status: 401 });
  assert.equal(rows.map((r) => r.client_request_id), [ids.ua]);
  assert.is(rows[0].error_code, 'SESSION_INVALID');
  assert.is(rows[0].reason, 'user-agent');

  rows = await rowsFor({ client_id: s.client.id, error_code: 'INVALID_PARAMS' });
  assert.equal(rows.map((r) => r.client_request_id), [ids.params]);
  assert.is(rows[0].status, 400);

  rows = await rowsFor({ user_id: s.user.id, status: 200 });
  assert.ok(rows.every((r) => r.status === 200 && r.error_code === null));
  assert.ok(rows.some((r) => r.client_request_id === ids.ok));

  // Time: from is inclusive, to exclusive.
  const okRow = (await rowsFor({ client_id: s.client.id, method: 'me', status: 200 }))[0];
  assert.is(okRow.client_request_id, ids.ok);
  rows = await rowsFor({ client_id: s.client.id, from: okRow.at });
  assert.ok(rows.some((r) => r.client_request_id === ids.ok), 'from = at includes the row');
  assert.ok(rows.every((r) => r.at >= okRow.at));
  rows = await rowsFor({ client_id: s.client.id, to: okRow.at });
  assert.not.ok(rows.some((r) => r.client_request_id === ids.ok), 'to = at excludes the row');
  assert.ok(rows.every((r) => r.at < okRow.at));
  assert.ok(rows.some((r) => r.method === 'users.login'), 'the earlier login is before it');
  rows = await rowsFor({ client_id: s.client.id, from: new Date(Date.now() + 3600_000).toISOString() });
  assert.is(rows.length, 0, 'nothing from the future');
  const bad = await query(admin, { from: 'yesterday-ish' });
  assert.is(bad.body.error?.code, -32602);
  assert.is(bad.body.error.data.field, 'from');
});

test('admin.audit.query: cursor pagination walks every row once, in order', async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const s = await loggedIn(t);
  const sent: string[] = [];
  for (let i = 0; i < 22; i++) {
    const id = rid();
    sent.push(id);
    assert.ok((await s.call('me', {}, { 'x-request-id': id })).body.result);
  }
  const all = (await query(admin, { client_id: s.client.id, limit: 500 })).body.result;
  assert.is(all.next_cursor, null, 'one page holds them all');
  assert.is(all.rows.length, 24, 'the token request, the login and 22 calls, all of this client');

  const pages: string[][] = [];
  let cursor: string | null | undefined;
  for (let page = 0; page < 20; page++) {
    const res = await query(admin, { client_id: s.client.id, limit: 5, ...(cursor ? { cursor } : {}) });
    assert.ok(res.body.result, res.text);
    pages.push(res.body.result.rows.map((r: AuditRow) => r.request_id));
    assert.ok(res.body.result.rows.length <= 5);
    cursor = res.body.result.next_cursor;
    if (!cursor) break;
    assert.type(cursor, 'string');
    assert.not.ok(cursor.includes('|'), 'the cursor is opaque');
  }
  assert.not.ok(cursor, 'the walk ends');
  assert.is(pages.length, 5, '24 rows in pages of 5');
  const walked = pages.flat();
  assert.equal(walked, all.rows.map((r: AuditRow) => r.request_id), 'the pages, end to end, are the single listing: no duplicate, no gap');
  assert.is(new Set(walked).size, walked.length);
  // Newest first: the calls in reverse order of sending, then the login, then the token request.
  assert.equal(all.rows.slice(0, 22).map((r: AuditRow) => r.client_request_id), [...sent].reverse());
  assert.equal(all.rows.slice(22).map((r: AuditRow) => r.method), ['users.login', 'auth.token']);

  // Rows written after the first page do not shift the next one.
  const first = (await query(admin, { client_id: s.client.id, limit: 5 })).body.result;
  assert.ok((await s.call('me', {}, { 'x-request-id': rid() })).body.result);
  const second = (await query(admin, { client_id: s.client.id, limit: 5, cursor: first.next_cursor })).body.result;
  assert.equal(second.rows.map((r: AuditRow) => r.request_id), walked.slice(5, 10));
});

test('admin.audit.query: limit 0 or 501 and a bad cursor are -32602 naming the field', async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  for (const limit of [0, 501]) {
    const res = await query(admin, { limit });
    assert.is(res.status, 200);
    assert.is(res.body.error?.code, -32602, res.text);
    assert.is(res.body.error.message, 'Invalid params');
    assert.is(res.body.error.data.field, 'limit');
  }
  for (const cursor of ['not-a-cursor', Buffer.from('yesterday|12').toString('base64url'), Buffer.from(`${new Date().toISOString()}|x`).toString('base64url')]) {
    const res = await query(admin, { cursor });
    assert.is(res.body.error?.code, -32602, `${cursor}: ${res.text}`);
    assert.is(res.body.error.data.field, 'cursor');
  }
  assert.ok((await query(admin, { limit: 1 })).body.result, 'limit 1 is fine');
  assert.ok((await query(admin, { limit: 500 })).body.result, 'limit 500 is fine');
});

test('admin.audit.query: a cursor id beyond bigint and dates beyond PostgreSQL\'s range are -32602 naming the field, not 500', async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const now = new Date().toISOString();
  const cursors = [`${now}|99999999999999999999`, `${now}|9223372036854775808`, `${now}|9007199254740993`, `+275760-09-13T00:00:00.000Z|1`, `-271821-04-20T00:00:00.000Z|1`];
  for (const raw of cursors) {
    const res = await query(admin, { cursor: Buffer.from(raw).toString('base64url') });
    assert.is(res.status, 200, res.text);
    assert.is(res.body.error?.code, -32602, `${raw}: ${res.text}`);
    assert.is(res.body.error.data.field, 'cursor');
  }
  for (const field of ['from', 'to']) {
    for (const value of ['+275760-09-13T00:00:00Z', '-271821-04-20T00:00:00Z', '+010000-01-01T00:00:00Z', '-000001-01-01T00:00:00Z']) {
      const res = await query(admin, { [field]: value });
      assert.is(res.body.error?.code, -32602, `${field}=${value}: ${res.text}`);
      assert.is(res.body.error.data.field, field);
      assert.match(res.body.error.data.detail, field);
      // On /api/v1 the HTTP status is the error's: 400, not 500.
      const odoo = await t.odoo('admin/audit/query', { session_id: admin.sessionId, [field]: value }, admin.headers);
      assert.is(odoo.status, 400, odoo.text);
    }
  }
  assert.ok((await query(admin, { from: '0001-01-01T00:00:00Z', to: '9999-12-31T23:59:59Z', limit: 1 })).body.result, 'the widest range is fine');
});

test('admin.audit.query is refused for a non-admin: 403 Forbidden (user without admin, client without scope)', async () => {
  const plain = await loggedIn(t);
  const scoped = await loggedIn(t, { admin: false, scopes: ['admin'] });
  const adminUserNoScope = await loggedIn(t, { admin: true });
  for (const who of [plain, scoped, adminUserNoScope]) {
    const res = await query(who, {});
    const error = res.body.error;
    assert.ok(error, res.text);
    assert.is(error.message, 'Forbidden');
    assert.is(error.status, 403);
    assert.is(error.data.error_code, 'FORBIDDEN');
    assert.is(error.code, -32003);
    assert.not.ok(res.body.result);
  }
  // Odoo style: the HTTP status is the catalogue's.
  const res = await t.odoo('admin/audit/query', { session_id: plain.sessionId }, plain.headers);
  assert.is(res.status, 403);
});

// ---- admin.stats ----

/** Logs the same user in again with its own token: a second (third...) session of one user. */
async function loginAgain(token: string, login: string, password: string): Promise<string> {
  const res = await t.rpc('users.login', { login, password }, clientHeaders(token));
  assert.ok(res.body.result?.session_id, res.text);
  return res.body.result.session_id;
}

test('admin.stats: hijack detections by component and session ends by reason reflect what happened' + FIGURES, async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const stats = async () => {
    const res = await admin.call('admin.stats', { window_seconds: 3600 });
    assert.ok(res.body.result, res.text);
    return res.body.result as { hijack_detections: Record<string, number>; sessions_ended: Record<string, number>; window_seconds: number; unauthorized_last_day: number };
  };
  const before = await stats();
  assert.is(before.window_seconds, 3600);

  // Fingerprint refusals: two user-agent, one language, one client fingerprint.
  const victim = await loggedIn(t, { headers: { 'x-client-fingerprint': 'device-1' } });
  await victim.call('me', {}, { 'user-agent': 'Other/1' });
  await victim.call('me', {}, { 'user-agent': 'Other/2' });
  await victim.call('me', {}, { 'accept-language': 'fr-FR' });
  await victim.call('me', {}, { 'x-client-fingerprint': 'device-2' });
  assert.ok((await victim.call('me')).body.result, 'a refused fingerprint does not end the session');

  // Ends: one logout, one revoke, one cap (a third login of a user capped at two sessions).
  const leaver = await loggedIn(t);
  assert.ok((await leaver.call('users.logout')).body.result);
  const owner = await loggedIn(t);
  const second = await loginAgain(owner.token, owner.user.login, owner.user.password);
  const secondMe = await t.rpc('me', { session_id: second }, owner.headers);
  const revoked = await owner.call('sessions.revoke', { id: secondMe.body.result.session.id });
  assert.is(revoked.body.result?.revoked, 1, revoked.text);
  const client = await newClient(t);
  const token = await tokenFor(t, client);
  const user = await newUser(t);
  await loginAgain(token, user.login, user.password);
  await loginAgain(token, user.login, user.password);
  await loginAgain(token, user.login, user.password);

  const after = await stats();
  const delta = (a: Record<string, number>, b: Record<string, number>, key: string) => (a[key] ?? 0) - (b[key] ?? 0);
  const expected: [string, Record<string, number>, Record<string, number>, string, number][] = [
    ['hijack', after.hijack_detections, before.hijack_detections, 'user-agent', 2],
    ['hijack', after.hijack_detections, before.hijack_detections, 'language', 1],
    ['hijack', after.hijack_detections, before.hijack_detections, 'client-fingerprint', 1],
    ['ended', after.sessions_ended, before.sessions_ended, 'logout', 1],
    ['ended', after.sessions_ended, before.sessions_ended, 'revoked', 1],
    ['ended', after.sessions_ended, before.sessions_ended, 'cap', 1],
  ];
  for (const [what, a, b, key, n] of expected) {
    const d = delta(a, b, key);
    // On shared real stores other test files may add their own in the same window.
    if (realStores) assert.ok(d >= n, `${what} ${key}: +${d}, expected at least +${n}`);
    else assert.is(d, n, `${what} ${key}: +${d}, expected +${n}`);
  }
  assert.ok(after.unauthorized_last_day - before.unauthorized_last_day >= 4, 'the four refusals are 401s of the last day');
  // The window: nothing older than 60 s ... and everything just done is inside 60 s.
  const narrow = (await admin.call('admin.stats', { window_seconds: 60 })).body.result;
  assert.ok((narrow.hijack_detections['user-agent'] ?? 0) >= 2);
  const tooSmall = await admin.call('admin.stats', { window_seconds: 59 });
  assert.is(tooSmall.body.error?.code, -32602);
  assert.is(tooSmall.body.error.data.field, 'window_seconds');
});

test.run();
