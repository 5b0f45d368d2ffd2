// Hostile input: session fixation (a chosen session_id at login is ignored), SQL metacharacters in
// every string param (stored verbatim, no error), NUL and out-of-range numbers (-32602, not a storage
// failure), very deep and very large JSON, invalid UTF-8, duplicate keys, __proto__ keys, thousands
// of headers, and slow clients (headers and whole request cut off in bounded time).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { connect } from 'node:net';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { loggedIn, newUser, clientHeaders, newClient, tokenFor } from '../support/fixtures.ts';
import { hashOf } from '../../server/sessions/sessionId.ts';
import { hashPassword } from '../../server/auth/passwords.ts';
import { ERROR_TABLE as CATALOGUE, type DocumentedCode as ErrorCode } from '../support/errorTable.ts';
import { loadConfig } from '../../server/config.ts';

let t: TestTether;
let s: Awaited<ReturnType<typeof loggedIn>>;

const HEADERS_TIMEOUT = 2;
const REQUEST_TIMEOUT = 4;

test.before(async () => {
  t = await startTestTether({ SWEEP_INTERVAL: '0', HEADERS_TIMEOUT: String(HEADERS_TIMEOUT), REQUEST_TIMEOUT: String(REQUEST_TIMEOUT) });
  s = await loggedIn(t);
});
test.after(async () => {
  await t.close();
});

function assertError(res: { status: number; body: any }, errorCode: ErrorCode, httpStatus = 200) {
  const spec = CATALOGUE[errorCode];
  assert.is(res.status, httpStatus, JSON.stringify(res.body)?.slice(0, 300));
  assert.ok(res.body?.error, `an error, got ${JSON.stringify(res.body)?.slice(0, 300)}`);
  assert.is(res.body.error.message, spec.message);
  assert.is(res.body.error.code, spec.code);
  assert.is(res.body.error.data.error_code, errorCode);
}

const SQL = [
  "' OR '1'='1",
  "'; DROP TABLE api_sessions; --",
  "Robert'); DROP TABLE users;--",
  '" OR ""="',
  "admin'--",
  '1; SELECT pg_sleep(5)',
  "\\'; \\\\ %_ $1 $$ E'\\x41'",
  "') UNION SELECT password_hash FROM users --",
  '%',
  '_%_',
  '\\',
  '$1',
  '$$;$$',
  '/* */ -- #',
  "O'Reilly \u00e9\u4e2d\ud83d\ude00",
];

// ---------------------------------------------------------------- session fixation

test('session fixation: a session_id chosen by the client at login (params, header, cookie) is ignored', async () => {
  const client = await newClient(t);
  const headers = clientHeaders(await tokenFor(t, client));
  const user = await newUser(t);
  const chosen = 'F'.repeat(40) + 'x'.repeat(40);
  for (const [params, extra] of [
    [{ session_id: chosen }, {}],
    [{}, { 'x-openerp-session-id': chosen }],
    [{}, { cookie: `session_id=${chosen}` }],
    [{ session_id: s.sessionId }, {}], // someone else's live session id
  ] as const) {
    const res = await t.rpc('users.login', { login: user.login, password: user.password, ...params }, { ...headers, ...extra });
    assert.is(res.status, 200, res.text);
    const issued: string = res.body.result.session_id;
    assert.match(issued, /^[A-Za-z0-9_-]{80}$/);
    assert.is.not(issued, chosen);
    assert.is.not(issued, s.sessionId);
  }
  // The chosen id opens nothing, and no row was ever keyed by it.
  assertError(await t.rpc('me', { session_id: chosen }, headers), 'SESSION_REQUIRED');
  const [{ n }] = await t.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_sessions where session_hash = ${hashOf(chosen)}`;
  assert.is(n, 0);
  // The other user's session is still theirs.
  const me = await s.call('me');
  assert.is(me.body.result.user.id, s.user.id);
});

test('session ids that are not ours: padded, too long, unicode, in the URL -> format or session required', async () => {
  for (const bad of [` ${s.sessionId}`, `${s.sessionId} `, s.sessionId + 'A'.repeat(30), s.sessionId.slice(0, 59), s.sessionId.replace(/.$/, '\u00e9'), "' OR 1=1 --".padEnd(80, 'x')]) {
    assertError(await s.call('me', { session_id: bad }), 'SESSION_ID_FORMAT');
  }
  assertError(await s.call('me', { session_id: 'A'.repeat(80) }), 'SESSION_REQUIRED');
  // Never read from the URL.
  const res = await t.post(`/jsonrpc?session_id=${s.sessionId}`, { jsonrpc: '2.0', id: 1, method: 'me' }, s.headers);
  assertError(res, 'SESSION_REQUIRED');
});

// ---------------------------------------------------------------- SQL metacharacters

test('SQL metacharacters in agents.create / agents.update name and description: stored and returned verbatim', async () => {
  for (const text of SQL) {
    const created = await s.call('agents.create', { name: text, description: `${text} | ${text}` });
    assert.is(created.status, 200, created.text);
    assert.ok(created.body.result, created.text);
    assert.is(created.body.result.name, text);
    assert.is(created.body.result.description, `${text} | ${text}`);
    const id = created.body.result.id;
    const [row] = await t.services.db.sql<{ name: string; description: string }[]>`select name, description from agents where id = ${id}`;
    assert.equal(row, { name: text, description: `${text} | ${text}` });
    const updated = await s.call('agents.update', { id, name: `${text}2`, description: text });
    assert.is(updated.body.result.name, `${text}2`);
    assert.is((await s.call('agents.get', { id })).body.result.description, text);
  }
  // Every table is still there and still answers.
  const [{ n }] = await t.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_sessions`;
  assert.ok(n > 0);
  assert.ok((await s.call('agents.list', { limit: 5 })).body.result.items.length > 0);
});

test('SQL metacharacters in login, email and password: Invalid credentials, never an error; a user named with them logs in', async () => {
  // A run-unique tail keeps each login's failure counter (per login, in the shared cache) fresh across runs.
  const run = Date.now().toString(36);
  for (const sqlText of SQL) {
    const text = `${sqlText}${run}`;
    assertError(await t.rpc('users.login', { login: text, password: text }, s.headers), 'AUTHENTICATION_FAILED');
    assertError(await t.rpc('users.login', { email: text, password: 'x' }, s.headers), 'AUTHENTICATION_FAILED');
  }
  const login = `o'reilly_${Date.now()}"; --`;
  const password = "p'; DROP TABLE users; --";
  await t.services.users.create({ login, passwordHash: await hashPassword(password), name: "Robert'); --" });
  const res = await t.rpc('users.login', { login, password }, s.headers);
  assert.is(res.body.result?.user.login, login, res.text);
  assert.is(res.body.result.user.name, "Robert'); --");
});

test('SQL metacharacters in admin.audit.query filters: an answer (rows or -32602), never a storage error', async () => {
  const admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
  for (const text of SQL) {
    for (const field of ['method', 'client_id', 'error_code']) {
      const res = await admin.call('admin.audit.query', { [field]: text });
      assert.is(res.status, 200);
      assert.ok(Array.isArray(res.body.result?.rows), `${field}=${text}: ${res.text.slice(0, 300)}`);
      // Matched as a value, never as a pattern or SQL: any row found holds exactly this text.
      for (const row of res.body.result.rows) assert.is(row[field], text);
    }
    for (const field of ['from', 'to', 'cursor']) {
      const res = await admin.call('admin.audit.query', { [field]: text });
      assert.ok(res.body.result || res.body.error?.data.error_code === 'INVALID_PARAMS', `${field}=${text}: ${res.text.slice(0, 300)}`);
    }
  }
});

test('NUL characters and numbers beyond 2^53 in params: -32602 naming the field, not a storage failure', async () => {
  const nul = await s.call('agents.create', { name: 'a\u0000b' });
  assertError(nul, 'INVALID_PARAMS');
  assert.is(nul.body.error.data.field, 'name');
  const login = await t.rpc('users.login', { login: 'x\u0000', password: 'y' }, s.headers);
  assertError(login, 'INVALID_PARAMS');
  assert.is(login.body.error.data.field, 'login');
  for (const id of [1e19, 2 ** 53, 1e308]) {
    const res = await s.call('sessions.revoke', { id });
    assertError(res, 'INVALID_PARAMS');
    assert.is(res.body.error.data.field, 'id');
  }
  // The audit row of a method name holding NUL is still written (PostgreSQL text cannot hold U+0000).
  const res = await t.post('/jsonrpc', '{"jsonrpc":"2.0","id":1,"method":"evil\\u0000name"}');
  assertError(res, 'METHOD_NOT_FOUND');
  await t.services.audit.flush();
  const requestId = res.headers.get('x-request-id');
  const [row] = await t.services.db.sql<{ method: string }[]>`select method from api_access_log where request_id = ${requestId}`;
  assert.is(row?.method, 'evil\uFFFDname');
});

// ---------------------------------------------------------------- deep, large, odd JSON

const deep = (n: number, open = '[', close = ']', inner = '') => open.repeat(n) + inner + close.repeat(n);

test('very deep JSON: as the body, the id, the method, params, a param and session_id -> the matching catalogue error', async () => {
  const n = 100_000;
  // Nested arrays are a batch of one element that is not a request: an array of one -32600.
  const batch = await t.post('/jsonrpc', deep(n));
  assert.is(batch.body.length, 1);
  assertError({ status: batch.status, body: batch.body[0] }, 'INVALID_REQUEST');
  assertError(await t.post('/jsonrpc', deep(n / 2, '{"a":', '}', '1')), 'INVALID_REQUEST');
  assertError(await t.post('/jsonrpc', `{"jsonrpc":"2.0","id":${deep(n)},"method":"system.ping"}`), 'INVALID_REQUEST');
  assertError(await t.post('/jsonrpc', `{"jsonrpc":"2.0","id":1,"method":${deep(n)}}`), 'INVALID_REQUEST');
  // (params that are not an object carry no session_id: the session comes from the header here)
  assertError(await t.post('/jsonrpc', `{"jsonrpc":"2.0","id":1,"method":"agents.create","params":${deep(n)}}`, { ...s.headers, 'x-openerp-session-id': s.sessionId }), 'INVALID_PARAMS');
  assertError(await t.post('/jsonrpc', `{"jsonrpc":"2.0","id":1,"method":"agents.create","params":{"session_id":"${s.sessionId}","name":${deep(n)}}}`, s.headers), 'INVALID_PARAMS');
  assertError(await t.post('/jsonrpc', `{"jsonrpc":"2.0","id":1,"method":"me","params":{"session_id":${deep(n)}}}`, s.headers), 'SESSION_ID_FORMAT');
  assertError(await t.post('/api/v1/me', `{"jsonrpc":"2.0","id":1,"method":"call","params":{"session_id":${deep(n)}}}`, s.headers), 'SESSION_ID_FORMAT', 401);
  // Deeper than the body limit allows: refused before parsing.
  assertError(await t.post('/jsonrpc', deep(600_000)), 'PAYLOAD_TOO_LARGE', 413);
  assert.is((await s.call('me')).status, 200, 'still serving');
});

test('very large JSON: over the body limit 413 on both transports; a large string over a field limit -32602', async () => {
  const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'agents.create', params: { session_id: s.sessionId, name: 'x', description: 'd'.repeat(t.config.bodyLimit) } });
  assertError(await t.post('/jsonrpc', big, s.headers), 'PAYLOAD_TOO_LARGE', 413);
  assertError(await t.post('/api/v1/agents/create', big.replace('"agents.create"', '"call"'), s.headers), 'PAYLOAD_TOO_LARGE', 413);
  const large = await s.call('agents.create', { name: 'x', description: 'd'.repeat(900_000) });
  assertError(large, 'INVALID_PARAMS');
  assert.is(large.body.error.data.field, 'description');
  const long = await t.rpc('users.login', { login: 'l'.repeat(500_000), password: 'p' }, s.headers);
  assertError(long, 'INVALID_PARAMS');
  // A batch over BATCH_LIMIT: one -32600, nothing run.
  const batch = Array.from({ length: t.config.batchLimit + 1 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'system.ping' }));
  const res = await t.post('/jsonrpc', batch);
  assertError(res, 'BATCH_TOO_LARGE');
  assert.is(res.body.error.code, -32600);
});

test('invalid UTF-8: inside a string it is stored as U+FFFD; as the whole body it is a parse error', async () => {
  const prefix = Buffer.from(`{"jsonrpc":"2.0","id":1,"method":"agents.create","params":{"session_id":"${s.sessionId}","name":"a`);
  for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc0, 0xaf]]) {
    const body = Buffer.concat([prefix, Buffer.from(bad), Buffer.from('b"}}')]);
    const res = await fetch(t.url + '/jsonrpc', { method: 'POST', headers: { 'content-type': 'application/json', ...s.headers }, body });
    const json = (await res.json()) as any;
    assert.is(res.status, 200);
    assert.ok(json.result, JSON.stringify(json));
    assert.match(json.result.name, /^a\uFFFD+.*b$/);
  }
  const res = await fetch(t.url + '/jsonrpc', { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from([0xff, 0xfe, 0xfd, 0x00, 0x80]) });
  assertError({ status: res.status, body: await res.json() }, 'PARSE_ERROR');
});

test('duplicate keys: the last one wins (JSON.parse), for envelope members and params alike', async () => {
  const ping = await t.post('/jsonrpc', '{"jsonrpc":"2.0","id":1,"id":2,"method":"nope","method":"system.ping"}');
  assert.is(ping.body.id, 2);
  assert.ok(ping.body.result);
  const res = await t.post('/jsonrpc', `{"jsonrpc":"2.0","id":1,"method":"me","params":{"session_id":"${'A'.repeat(80)}","session_id":"${s.sessionId}"}}`, s.headers);
  assert.is(res.body.result?.user.id, s.user.id, res.text);
  const reversed = await t.post('/jsonrpc', `{"jsonrpc":"2.0","id":1,"method":"me","params":{"session_id":"${s.sessionId}","session_id":"${'A'.repeat(80)}"}}`, s.headers);
  assertError(reversed, 'SESSION_REQUIRED');
});

test('__proto__ keys anywhere in the body are refused as a parse error (no prototype poisoning)', async () => {
  assertError(await t.post('/jsonrpc', `{"jsonrpc":"2.0","id":1,"method":"me","params":{"__proto__":{"session_id":"${s.sessionId}"}}}`, s.headers), 'PARSE_ERROR');
  assertError(await t.post('/jsonrpc', '{"__proto__":{"admin":true},"jsonrpc":"2.0","id":1,"method":"system.ping"}'), 'PARSE_ERROR');
  // constructor/prototype are plain data: an unknown param.
  const res = await t.post('/jsonrpc', `{"jsonrpc":"2.0","id":1,"method":"me","params":{"session_id":"${s.sessionId}","constructor":{"prototype":{"admin":true}}}}`, s.headers);
  assertError(res, 'INVALID_PARAMS');
  assert.is(({} as any).admin, undefined);
});

// ---------------------------------------------------------------- headers, raw HTTP

/** One raw HTTP exchange: what the server answers (status line and body) and when it closed. */
function raw(request: string | Buffer, options: { trickle?: { chunks: string[]; everyMs: number }; timeoutMs?: number } = {}): Promise<{ status: number; text: string; ms: number; closed: boolean }> {
  const { port } = new URL(t.url);
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1');
    let text = '';
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      socket.destroy();
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text, ms: Date.now() - started, closed });
    };
    socket.setTimeout(options.timeoutMs ?? 15_000, () => finish(false));
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', () => {
      socket.write(request);
      const chunks = [...(options.trickle?.chunks ?? [])];
      if (chunks.length) {
        timer = setInterval(() => {
          const next = chunks.shift();
          if (next === undefined) return clearInterval(timer);
          if (!socket.destroyed) socket.write(next);
        }, options.trickle!.everyMs);
      }
    });
  });
}

const PING = '{"jsonrpc":"2.0","id":1,"method":"system.ping"}';

test('thousands of headers: 1500 small ones are answered; past the 16 KiB header limit 431; the server keeps serving', async () => {
  const many = Array.from({ length: 1500 }, (_, i) => `h${i}:1\r\n`).join('');
  const ok = await raw(`POST /jsonrpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${PING.length}\r\nConnection: close\r\n${many}\r\n${PING}`);
  assert.is(ok.status, 200, ok.text.slice(0, 200));
  assert.match(ok.text, /"pong":true/);
  const tooMany = Array.from({ length: 5000 }, (_, i) => `x-header-${i}: value\r\n`).join('');
  const refused = await raw(`POST /jsonrpc HTTP/1.1\r\nHost: x\r\n${tooMany}Content-Length: ${PING.length}\r\n\r\n${PING}`);
  assert.is(refused.status, 431);
  const long = await raw(`POST /jsonrpc HTTP/1.1\r\nHost: x\r\nUser-Agent: ${'a'.repeat(20_000)}\r\nContent-Length: ${PING.length}\r\n\r\n${PING}`);
  assert.is(long.status, 431);
  // Invalid header bytes: Node's parser answers 400 and closes; nothing reaches the app.
  const nul = await raw(`POST /jsonrpc HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0000b\r\nContent-Length: ${PING.length}\r\n\r\n${PING}`);
  assert.is(nul.status, 400);
  assert.is((await t.rpc('system.ping')).status, 200);
});

test(`slow client: headers sent a byte at a time are answered 408 and cut off after HEADERS_TIMEOUT (${HEADERS_TIMEOUT} s)`, async () => {
  const headers = 'X-Slow: ' + 'a'.repeat(200) + '\r\n';
  const res = await raw('POST /jsonrpc HTTP/1.1\r\nHost: x\r\n', { trickle: { chunks: headers.split(''), everyMs: 200 } });
  assert.ok(res.closed, 'the server closed the connection');
  assert.ok(res.ms >= HEADERS_TIMEOUT * 1000 - 200, `cut off after ${res.ms} ms`);
  // Upper bound: the trickle would take 40 s to finish on its own; being cut off well before that is
  // the timeout at work. The margin (timeout + 1 s check interval + 10 s) is for a loaded machine.
  assert.ok(res.ms <= HEADERS_TIMEOUT * 1000 + 11_000, `cut off after ${res.ms} ms, expected about ${HEADERS_TIMEOUT * 1000} ms (+1 s check interval)`);
  assert.is(res.status, 408, `answer before the close: ${JSON.stringify(res.text.slice(0, 200))}`);
  assert.match(res.text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
});

test(`slow client: a body sent a byte at a time is answered 408 and cut off after REQUEST_TIMEOUT (${REQUEST_TIMEOUT} s)`, async () => {
  const body = PING.padEnd(400, ' ');
  const res = await raw(`POST /jsonrpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`, { trickle: { chunks: body.split(''), everyMs: 200 } });
  assert.ok(res.closed, 'the server closed the connection');
  assert.ok(res.ms >= REQUEST_TIMEOUT * 1000 - 200, `cut off after ${res.ms} ms`);
  // Upper bound: the trickle would take 80 s; the margin (timeout + 1 s check + 10 s) is for a loaded machine.
  assert.ok(res.ms <= REQUEST_TIMEOUT * 1000 + 11_000, `cut off after ${res.ms} ms, expected about ${REQUEST_TIMEOUT * 1000} ms`);
  assert.is(res.status, 408, `answer before the close: ${JSON.stringify(res.text.slice(0, 200))}`);
  assert.match(res.text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
  assert.is((await t.rpc('system.ping')).status, 200, 'still serving');
});

test('HEADERS_TIMEOUT / REQUEST_TIMEOUT: defaults 10 and 30 s, validated', () => {
  const c = loadConfig({});
  assert.is(c.headersTimeout, 10);
  assert.is(c.requestTimeout, 30);
  assert.throws(() => loadConfig({ HEADERS_TIMEOUT: '40', REQUEST_TIMEOUT: '30' }), /HEADERS_TIMEOUT=40 is not allowed/);
  assert.throws(() => loadConfig({ HEADERS_TIMEOUT: '0' }), /HEADERS_TIMEOUT/);
  assert.throws(() => loadConfig({ REQUEST_TIMEOUT: 'soon' }), /REQUEST_TIMEOUT/);
});

test.run();
