// Where requireSession finds the session_id (params > X-Openerp-Session-Id > session_id cookie, never
// the URL) and what it answers for a missing, unknown, ended or malformed one: DESIGN.md
// "Authentication" 3 and the troubleshooting guide's issues #1, #4 and #8. Each refusal is checked on
// the wire (HTTP status, error.message, error.data.error_code) and in the stores it leaves behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { loggedIn, newClient } from '../support/fixtures.ts';
import { newSessionId } from '../../server/sessions/sessionId.ts';

type Res = Awaited<ReturnType<TestTether['rpc']>>;

const REQUIRED = { code: 'SESSION_REQUIRED', message: 'Session required' } as const;
const FORMAT = { code: 'SESSION_ID_FORMAT', message: 'Invalid session_id format (must be 60-100 characters)' } as const;

let t: TestTether;
/** Every session id this file saw, for the log scan at the end. */
const seen = new Set<string>();

test.before(async () => {
  t = await startTestTether();
});
test.after(async () => {
  // Only this file's keys: the Redis may be shared with other tests.
  await t.services.cache.del(...[...seen].map(cacheKey));
  await t.close();
});

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const cacheKey = (sid: string) => `session:${sha256(sid)}`;
const randomId = (bytes = 60) => randomBytes(bytes).toString('base64url');

async function session(options: Parameters<typeof loggedIn>[1] = {}) {
  const s = await loggedIn(t, options);
  seen.add(s.sessionId);
  return s;
}

async function rowOf(sid: string) {
  const rows = await t.services.db.sql<{ is_active: boolean; end_reason: string | null; logout_at: Date | null; user_id: number; session_hash: string }[]>`
    select is_active, end_reason, logout_at, user_id::int as user_id, session_hash from api_sessions where session_hash = ${sha256(sid)}`;
  return rows[0];
}

/** The session is untouched by a refusal: row active, cache entry present with a live TTL. */
async function assertStillOpen(sid: string) {
  const row = await rowOf(sid);
  assert.ok(row, 'api_sessions row exists');
  assert.is(row.is_active, true);
  assert.is(row.end_reason, null);
  assert.is(row.logout_at, null);
  assert.ok(await t.services.cache.get(cacheKey(sid)), 'cache entry present');
  const ttl = await t.services.cache.ttl(cacheKey(sid));
  assert.ok(ttl > 0 && ttl <= t.config.sessionIdleTimeout, `ttl ${ttl}`);
}

/** /jsonrpc answers 200 with error.status in the body; /api/v1 answers error.status. */
function assertRefused(res: Res, expected: { code: string; message: string }, transport: 'jsonrpc' | 'odoo' = 'jsonrpc') {
  assert.is(res.status, transport === 'jsonrpc' ? 200 : 401, `HTTP status: ${res.text}`);
  assert.ok(res.body?.error, `an error: ${res.text}`);
  assert.is(res.body.error.message, expected.message);
  assert.is(res.body.error.status, 401);
  assert.is(res.body.error.code, -32001);
  assert.is(res.body.error.data.error_code, expected.code);
  assert.is(res.body.error.data.status, 401);
  assert.is(res.body.error.data.request_id, res.headers.get('x-request-id'));
  assert.not.ok('result' in res.body);
}

const userOf = (res: Res) => {
  assert.ok(res.body?.result, `a result: ${res.text}`);
  return res.body.result.user.id as number;
};

// --- missing ---------------------------------------------------------------------------------------

test('no session_id anywhere -> Session required (both transports); the session is untouched', async () => {
  const s = await session();
  const rpc = await t.rpc('agents.list', { limit: 5 }, s.headers);
  assertRefused(rpc, REQUIRED);
  const odoo = await t.odoo('agents', { limit: 5 }, s.headers);
  assertRefused(odoo, REQUIRED, 'odoo');
  assert.is(odoo.body.error.data.instance, '/api/v1/agents');
  const lines = t.logsMatching('[SESSION REQUIRED] no session_id').filter((l) => l.request_id === rpc.headers.get('x-request-id'));
  assert.is(lines.length, 1);
  assert.is(lines[0].error_code, 'SESSION_REQUIRED');
  await assertStillOpen(s.sessionId);
});

// --- each place works ------------------------------------------------------------------------------

test('session_id in params works (jsonrpc and odoo); the row is keyed by SHA-256, the raw id is stored nowhere', async () => {
  const s = await session();
  const rpc = await s.call('agents.list', { limit: 3 });
  assert.is(rpc.status, 200);
  assert.is(rpc.body.result.limit, 3);
  const odoo = await t.odoo('agents', { session_id: s.sessionId, limit: 2 }, s.headers);
  assert.is(odoo.status, 200);
  assert.is(odoo.body.result.limit, 2);
  const row = await rowOf(s.sessionId);
  assert.is(row.user_id, s.user.id);
  const raw = await t.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_sessions s where s::text like ${'%' + s.sessionId + '%'}`;
  assert.is(raw[0].n, 0, 'no column holds the raw session id');
  const entry = await t.services.cache.get(cacheKey(s.sessionId));
  assert.ok(entry);
  assert.not.ok(entry!.includes(s.sessionId), 'the cache entry does not hold the raw session id');
  await assertStillOpen(s.sessionId);
});

test('session_id in the X-Openerp-Session-Id header works (jsonrpc and odoo)', async () => {
  const s = await session();
  const rpc = await t.rpc('me', {}, { ...s.headers, 'x-openerp-session-id': s.sessionId });
  assert.is(userOf(rpc), s.user.id);
  const odoo = await t.odoo('agents', { limit: 1 }, { ...s.headers, 'x-openerp-session-id': s.sessionId });
  assert.is(odoo.status, 200);
  assert.is(odoo.body.result.limit, 1);
  await assertStillOpen(s.sessionId);
});

test('session_id in the session_id cookie works (jsonrpc and odoo)', async () => {
  const s = await session();
  const rpc = await t.rpc('me', {}, { ...s.headers, cookie: `theme=dark; session_id=${s.sessionId}; other=1` });
  assert.is(userOf(rpc), s.user.id);
  const odoo = await t.odoo('me', {}, { ...s.headers, cookie: `session_id=${s.sessionId}` });
  assert.is(odoo.status, 200);
  assert.is(odoo.body.result.user.id, s.user.id);
  await assertStillOpen(s.sessionId);
});

// --- priority --------------------------------------------------------------------------------------

test('priority: params beats header beats cookie (two valid sessions of the same client tell which was read)', async () => {
  const client = await newClient(t);
  const a = await session({ client });
  const b = await session({ client });
  const c = await session({ client });
  const headers = a.headers;
  // params A, header B, cookie C -> A
  const r1 = await t.rpc('me', { session_id: a.sessionId }, { ...headers, 'x-openerp-session-id': b.sessionId, cookie: `session_id=${c.sessionId}` });
  assert.is(userOf(r1), a.user.id);
  // header B, cookie C -> B
  const r2 = await t.rpc('me', {}, { ...headers, 'x-openerp-session-id': b.sessionId, cookie: `session_id=${c.sessionId}` });
  assert.is(userOf(r2), b.user.id);
  // cookie C only -> C
  const r3 = await t.odoo('me', {}, { ...headers, cookie: `session_id=${c.sessionId}` });
  assert.is(r3.body.result.user.id, c.user.id);
});

test('priority: a valid params id wins over invalid header and cookie', async () => {
  const s = await session();
  const res = await t.rpc('me', { session_id: s.sessionId }, { ...s.headers, 'x-openerp-session-id': 'short', cookie: `session_id=${randomId()}` });
  assert.is(userOf(res), s.user.id);
});

test('priority: a valid header wins over an invalid cookie', async () => {
  const s = await session();
  const res = await t.odoo('me', {}, { ...s.headers, 'x-openerp-session-id': s.sessionId, cookie: 'session_id=short' });
  assert.is(res.status, 200);
  assert.is(res.body.result.user.id, s.user.id);
});

test('priority reversed: an unknown id in params is refused even with a valid header and cookie', async () => {
  const s = await session();
  const res = await t.rpc('agents.list', { session_id: randomId() }, { ...s.headers, 'x-openerp-session-id': s.sessionId, cookie: `session_id=${s.sessionId}` });
  assertRefused(res, REQUIRED);
  // A malformed params id is a format error: there is no falling back to a lower place.
  const bad = await t.odoo('agents', { session_id: 'too-short' }, { ...s.headers, 'x-openerp-session-id': s.sessionId });
  assertRefused(bad, FORMAT, 'odoo');
  assert.ok(bad.body.error.data.detail.includes('from params'), bad.body.error.data.detail);
  await assertStillOpen(s.sessionId);
});

test('priority reversed: an unknown header id is refused even with a valid cookie', async () => {
  const s = await session();
  const res = await t.odoo('agents', {}, { ...s.headers, 'x-openerp-session-id': randomId(), cookie: `session_id=${s.sessionId}` });
  assertRefused(res, REQUIRED, 'odoo');
  const bad = await t.rpc('agents.list', {}, { ...s.headers, 'x-openerp-session-id': 'x'.repeat(20), cookie: `session_id=${s.sessionId}` });
  assertRefused(bad, FORMAT);
  assert.ok(bad.body.error.data.detail.includes('from header'), bad.body.error.data.detail);
  await assertStillOpen(s.sessionId);
});

// --- never the URL ---------------------------------------------------------------------------------

test('session_id in the URL query string is never read (jsonrpc and odoo)', async () => {
  const s = await session();
  const q = `?session_id=${encodeURIComponent(s.sessionId)}`;
  const rpc = await t.post(`/jsonrpc${q}`, { jsonrpc: '2.0', id: 1, method: 'agents.list', params: {} }, s.headers);
  assertRefused(rpc, REQUIRED);
  const odoo = await t.post(`/api/v1/agents${q}`, { jsonrpc: '2.0', id: 2, method: 'call', params: {} }, s.headers);
  assertRefused(odoo, REQUIRED, 'odoo');
  await assertStillOpen(s.sessionId);
});

// --- unknown, ended --------------------------------------------------------------------------------

test('unknown (well-formed random 80 characters) -> Session required; no row, no cache entry is created', async () => {
  const s = await session();
  const unknown = randomId();
  seen.add(unknown);
  assert.is(unknown.length, 80);
  const rpc = await t.rpc('agents.list', { session_id: unknown }, s.headers);
  assertRefused(rpc, REQUIRED);
  const odoo = await t.odoo('agents', { session_id: unknown }, s.headers);
  assertRefused(odoo, REQUIRED, 'odoo');
  assert.is(await rowOf(unknown), undefined);
  assert.is(await t.services.cache.get(cacheKey(unknown)), null);
  assert.is(await t.services.cache.ttl(cacheKey(unknown)), -2);
  const line = t.logs.find((l) => l.request_id === rpc.headers.get('x-request-id') && String(l.msg).startsWith('[SESSION REQUIRED]'));
  assert.ok(line, 'a [SESSION REQUIRED] line');
  assert.is(line!.session, unknown.slice(0, 8));
  assert.is(line!.reason, 'unknown');
});

test('the length bounds: 60 and 100 well-formed characters pass the format check (unknown), 59 and 101 do not', async () => {
  const s = await session();
  for (const [length, expected] of [
    [60, REQUIRED],
    [100, REQUIRED],
    [59, FORMAT],
    [101, FORMAT],
  ] as const) {
    const id = randomId(80).slice(0, length);
    assert.is(id.length, length);
    assertRefused(await t.rpc('agents.list', { session_id: id }, s.headers), expected);
  }
});

test('every id the service issues begins with a letter or digit; the format check still accepts ids beginning with - or _', async () => {
  // 20,000 fresh ids: with plain base64url about 625 would begin with '-' or '_' (one in 32).
  const ids = Array.from({ length: 20_000 }, newSessionId);
  const bad = ids.filter((id) => !/^[A-Za-z0-9]/.test(id));
  assert.is(bad.length, 0, `${bad.length} ids begin with - or _`);
  assert.ok(ids.every((id) => /^[A-Za-z0-9_-]{80}$/.test(id)), 'still 80 base64url characters');
  // Logins over HTTP hand out such ids (the login path uses the same generator).
  for (let i = 0; i < 5; i++) assert.match((await session()).sessionId, /^[A-Za-z0-9][A-Za-z0-9_-]{79}$/);
  // An id of the alphabet beginning with '-' or '_' is well-formed (unknown here), not a format error.
  const s = await session();
  for (const first of ['-', '_', '--']) {
    const id = first + randomId().slice(first.length);
    assertRefused(await t.rpc('agents.list', { session_id: id }, s.headers), REQUIRED);
  }
});

test('logged out -> Session required on both transports; the row says logout, a tombstone replaced the cache entry', async () => {
  const s = await session();
  const out = await s.call('users.logout');
  assert.is(out.body.result.logged_out, true);
  assertRefused(await s.call('agents.list'), REQUIRED);
  assertRefused(await t.odoo('agents', {}, { ...s.headers, 'x-openerp-session-id': s.sessionId }), REQUIRED, 'odoo');
  assertRefused(await t.rpc('me', {}, { ...s.headers, cookie: `session_id=${s.sessionId}` }), REQUIRED);
  const row = await rowOf(s.sessionId);
  assert.is(row.is_active, false);
  assert.is(row.end_reason, 'logout');
  assert.ok(row.logout_at instanceof Date);
  assert.is(await t.services.cache.get(cacheKey(s.sessionId)), '!logout', 'a tombstone replaced the entry');
  assert.ok((await t.services.cache.ttl(cacheKey(s.sessionId))) > 0);
});

// --- malformed -------------------------------------------------------------------------------------

test('truncated (40 characters) -> Invalid session_id format; the session itself stays open', async () => {
  const s = await session();
  const truncated = s.sessionId.slice(0, 40);
  const rpc = await t.rpc('agents.list', { session_id: truncated }, s.headers);
  assertRefused(rpc, FORMAT);
  assert.ok(rpc.body.error.data.detail.includes('40 characters'), rpc.body.error.data.detail);
  const odoo = await t.odoo('agents', {}, { ...s.headers, 'x-openerp-session-id': truncated });
  assertRefused(odoo, FORMAT, 'odoo');
  const line = t.logs.find((l) => l.request_id === rpc.headers.get('x-request-id') && l.msg === '[SESSION FORMAT] invalid session_id format');
  assert.ok(line);
  assert.is(line!.length, 40);
  assert.is(line!.error, FORMAT.message);
  assert.not.ok(JSON.stringify(line).includes(truncated), 'the truncated id is not logged');
  await assertStillOpen(s.sessionId);
  assert.is((await s.call('agents.list')).status, 200);
});

test('empty string (params, header, cookie) and null -> Invalid session_id format', async () => {
  const s = await session();
  assertRefused(await t.rpc('agents.list', { session_id: '' }, s.headers), FORMAT);
  assertRefused(await t.odoo('agents', { session_id: '' }, s.headers), FORMAT, 'odoo');
  assertRefused(await t.rpc('agents.list', {}, { ...s.headers, 'x-openerp-session-id': '' }), FORMAT);
  assertRefused(await t.odoo('agents', {}, { ...s.headers, cookie: 'session_id=' }), FORMAT, 'odoo');
  assertRefused(await t.rpc('agents.list', { session_id: null }, s.headers), FORMAT);
  assertRefused(await t.rpc('agents.list', { session_id: 12345 }, s.headers), FORMAT);
  await assertStillOpen(s.sessionId);
});

test('the access token (a JWT) in place of the session_id -> Invalid session_id format, and the token is not logged', async () => {
  const s = await session();
  const rpc = await t.rpc('agents.list', { session_id: s.token }, s.headers);
  assertRefused(rpc, FORMAT);
  assert.ok(rpc.body.error.data.detail.includes('not the access token'), rpc.body.error.data.detail);
  const odoo = await t.odoo('agents', {}, { ...s.headers, 'x-openerp-session-id': s.token });
  assertRefused(odoo, FORMAT, 'odoo');
  assert.not.ok(JSON.stringify(t.logs).includes(s.token), 'no log line holds the access token');
  await assertStillOpen(s.sessionId);
});

test("bad characters ('+', '/', '=', space) at the right length -> Invalid session_id format", async () => {
  const s = await session();
  for (const ch of ['+', '/', '=', ' ']) {
    const bad = s.sessionId.slice(0, 40) + ch + s.sessionId.slice(41);
    assert.is(bad.length, 80);
    assertRefused(await t.rpc('agents.list', { session_id: bad }, s.headers), FORMAT);
  }
  // Standard base64 of the same 60 bytes (80 characters with + and /) is not base64url.
  const std = Buffer.from(s.sessionId, 'base64url').toString('base64').replace(/^[A-Za-z0-9]/, '+');
  assertRefused(await t.odoo('agents', { session_id: std }, s.headers), FORMAT, 'odoo');
  // Padding, and a space inside the header value.
  assertRefused(await t.odoo('agents', {}, { ...s.headers, 'x-openerp-session-id': s.sessionId.slice(0, 78) + '==' }), FORMAT, 'odoo');
  assertRefused(await t.rpc('agents.list', {}, { ...s.headers, 'x-openerp-session-id': s.sessionId.slice(0, 40) + ' ' + s.sessionId.slice(41) }), FORMAT);
  await assertStillOpen(s.sessionId);
});

test('every printable ASCII character outside A-Z a-z 0-9 _ - (31 of them, space included) at the right length -> Invalid session_id format, in params on both endpoints and in the header', async () => {
  const s = await session();
  const outside = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).filter((ch) => !/[A-Za-z0-9_-]/.test(ch));
  assert.is(outside.length, 95 - 64, 'printable ASCII minus the 64 characters of base64url');
  for (const ch of outside) {
    // In the middle (a header value keeps it: no trimming), and first and last in params.
    for (const bad of [s.sessionId.slice(0, 40) + ch + s.sessionId.slice(41), ch + s.sessionId.slice(1), s.sessionId.slice(0, 79) + ch]) {
      assert.is(bad.length, 80);
      const label = `character ${JSON.stringify(ch)}`;
      const viaRpc = await t.rpc('agents.list', { session_id: bad }, s.headers);
      assert.is(viaRpc.body?.error?.data?.error_code, FORMAT.code, `${label} on /jsonrpc: ${viaRpc.text.slice(0, 200)}`);
      assertRefused(viaRpc, FORMAT);
      const viaOdoo = await t.odoo('agents', { session_id: bad }, s.headers);
      assert.is(viaOdoo.body?.error?.data?.error_code, FORMAT.code, `${label} on /api/v1`);
    }
    const viaHeader = await t.rpc('agents.list', {}, { ...s.headers, 'x-openerp-session-id': s.sessionId.slice(0, 40) + ch + s.sessionId.slice(41) });
    assert.is(viaHeader.body?.error?.data?.error_code, FORMAT.code, `character ${JSON.stringify(ch)} in the header`);
  }
  await assertStillOpen(s.sessionId);
});

// --- logs ------------------------------------------------------------------------------------------

test('no log line holds a whole session id; lines name sessions by their 8-character prefix only', async () => {
  const s = await session();
  await s.call('agents.list');
  await t.odoo('agents', {}, { ...s.headers, 'x-openerp-session-id': s.sessionId });
  await t.rpc('agents.list', {}, { ...s.headers, cookie: `session_id=${s.sessionId}` });
  await t.rpc('agents.list', {}, { ...s.headers, 'user-agent': 'Other/1.0', cookie: `session_id=${s.sessionId}` });
  const all = t.logs.map((l) => JSON.stringify(l));
  assert.ok(seen.size >= 10, `ids seen: ${seen.size}`);
  for (const sid of seen) {
    // 9 characters would already be more than the prefix a log may show.
    const leaked = all.filter((line) => line.includes(sid.slice(0, 9)));
    assert.is(leaked.length, 0, `a log line holds more than 8 characters of a session id: ${leaked[0]}`);
  }
  const mine = t.logs.filter((l) => typeof l.session === 'string' && l.session.startsWith(s.sessionId.slice(0, 8)));
  assert.ok(mine.length >= 4, 'the calls are logged with the prefix');
  for (const l of mine) assert.is(l.session, s.sessionId.slice(0, 8));
  for (const l of t.logs) if (typeof l.session === 'string') assert.ok((l.session as string).length <= 8, `session field ${l.session}`);
});

test.run();
