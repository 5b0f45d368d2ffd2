// The HTTP transport as DESIGN.md's Transport and Errors sections describe it: limits, refusals,
// HTTP status per path style, request ids, the boundary for unexpected exceptions, call logs, health.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Type } from '@sinclair/typebox';
import { defineMethod } from '../server/rpc/method.ts';
import { startTestTether, type TestTether } from './support/tether.ts';

const boom = defineMethod({
  name: 'test.boom',
  summary: 'Test only: fails with an unexpected exception.',
  params: Type.Object({}, { additionalProperties: false }),
  result: Type.Null(),
  requires: {},
  handler: async () => {
    throw new Error('secret internal detail');
  },
});

let t: TestTether;
test.before(async () => {
  t = await startTestTether({}, { methods: [boom] });
});
test.after(async () => {
  await t.close();
});

/** Any HTTP method, raw. */
async function request(path: string, init: RequestInit = {}) {
  const res = await fetch(t.url + path, init);
  const text = await res.text();
  let body: any;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, text, body };
}

/** A transport refusal: its HTTP status, and a JSON-RPC error body in the DESIGN.md shape. */
function assertRefusal(res: { status: number; headers: Headers; body: any }, status: number, errorCode: string, id: string | number | null = null) {
  assert.is(res.status, status);
  assert.ok(res.body, 'a JSON body');
  assert.is(res.body.jsonrpc, '2.0');
  assert.is(res.body.id, id);
  assert.is(res.body.error.status, status);
  assert.is(res.body.error.data.status, status);
  assert.is(res.body.error.data.error_code, errorCode);
  assert.type(res.body.error.code, 'number');
  assert.type(res.body.error.message, 'string');
  const requestId = res.headers.get('x-request-id');
  assert.ok(requestId, 'X-Request-Id on the refusal');
  assert.is(res.body.error.data.request_id, requestId);
}

const ping = (id: number) => ({ jsonrpc: '2.0', id, method: 'system.ping' });
const padded = (bytes: number) => {
  const skeleton = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'system.ping', params: { pad: '' } });
  return JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'system.ping', params: { pad: 'x'.repeat(bytes - skeleton.length) } });
};

// --- body size ---------------------------------------------------------------------------------

test('a body over the default 1 MiB limit -> 413 with a JSON-RPC error body', async () => {
  assert.is(t.config.bodyLimit, 1024 * 1024);
  const body = padded(1024 * 1024 + 1);
  assert.is(Buffer.byteLength(body), 1024 * 1024 + 1);
  const res = await t.post('/jsonrpc', body);
  assertRefusal(res, 413, 'PAYLOAD_TOO_LARGE');
  assert.is(res.body.error.message, 'Request body too large');
});

test('a body just under 1 MiB is read (answered by the method, not refused)', async () => {
  const res = await t.post('/jsonrpc', padded(1024 * 1024 - 10));
  assert.is(res.status, 200);
  // system.ping takes no params: the body was parsed and reached validation.
  assert.is(res.body.error.data.error_code, 'INVALID_PARAMS');
});

test('a body over the limit on the Odoo-style path -> 413 too', async () => {
  const res = await t.post('/api/v1/system/ping', padded(1024 * 1024 + 100));
  assertRefusal(res, 413, 'PAYLOAD_TOO_LARGE');
});

// --- batch length --------------------------------------------------------------------------------

test('a batch of 50 (the default limit) is answered in full', async () => {
  const res = await t.post('/jsonrpc', Array.from({ length: 50 }, (_, i) => ping(i + 1)));
  assert.is(res.status, 200);
  assert.is(res.body.length, 50);
  assert.ok(res.body.every((r: any) => r.result?.pong === true));
});

test('a batch of 51 -> one -32600 BATCH_TOO_LARGE naming the limit', async () => {
  const res = await t.post('/jsonrpc', Array.from({ length: 51 }, (_, i) => ping(i + 1)));
  assert.is(res.status, 200);
  assert.ok(!Array.isArray(res.body), 'a single error object');
  assert.is(res.body.id, null);
  assert.is(res.body.error.code, -32600);
  assert.is(res.body.error.message, 'Invalid Request');
  assert.is(res.body.error.data.error_code, 'BATCH_TOO_LARGE');
  assert.match(res.body.error.data.detail, /at most 50/);
  assert.is(res.body.error.data.request_id, res.headers.get('x-request-id'));
});

test('BODY_LIMIT and BATCH_LIMIT from the environment are enforced', async () => {
  const small = await startTestTether({ BODY_LIMIT: '2048', BATCH_LIMIT: '3' });
  try {
    assert.is(small.config.bodyLimit, 2048);
    assert.is(small.config.batchLimit, 3);
    const over = await small.post('/jsonrpc', padded(2049));
    assertRefusal(over, 413, 'PAYLOAD_TOO_LARGE');
    assert.match(over.body.error.data.detail, /2048/);
    const under = await small.post('/jsonrpc', padded(2000));
    assert.is(under.status, 200);
    assert.is(under.body.error.data.error_code, 'INVALID_PARAMS');

    const three = await small.post('/jsonrpc', [ping(1), ping(2), ping(3)]);
    assert.is(three.status, 200);
    assert.is(three.body.length, 3);
    const four = await small.post('/jsonrpc', [ping(1), ping(2), ping(3), ping(4)]);
    assert.is(four.status, 200);
    assert.is(four.body.error.code, -32600);
    assert.is(four.body.error.data.error_code, 'BATCH_TOO_LARGE');
    assert.match(four.body.error.data.detail, /at most 3/);
  } finally {
    await small.close();
  }
});

// --- refusals before JSON-RPC --------------------------------------------------------------------

test('a non-JSON content type -> 415', async () => {
  const body = JSON.stringify(ping(1));
  for (const path of ['/jsonrpc', '/api/v1/system/ping']) {
    const res = await t.post(path, body, { 'content-type': 'text/plain' });
    assertRefusal(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
    assert.is(res.body.error.message, 'Content-Type must be application/json');
  }
  const form = await t.post('/jsonrpc', 'a=1', { 'content-type': 'application/x-www-form-urlencoded' });
  assertRefusal(form, 415, 'UNSUPPORTED_MEDIA_TYPE');
});

test('application/json with a charset is accepted', async () => {
  const res = await t.post('/jsonrpc', ping(1), { 'content-type': 'application/json; charset=utf-8' });
  assert.is(res.status, 200);
  assert.is(res.body.result.pong, true);
});

test('GET /jsonrpc -> 405 with Allow: POST', async () => {
  const res = await request('/jsonrpc');
  assertRefusal(res, 405, 'METHOD_NOT_ALLOWED');
  assert.is(res.headers.get('allow'), 'POST');
});

test('GET /api/v1/system/ping -> 405 with Allow: POST', async () => {
  const res = await request('/api/v1/system/ping');
  assertRefusal(res, 405, 'METHOD_NOT_ALLOWED');
  assert.is(res.headers.get('allow'), 'POST');
});

test('an unknown path -> 404', async () => {
  assertRefusal(await request('/no/such/path'), 404, 'PATH_NOT_FOUND');
  assertRefusal(await t.post('/no/such/path', ping(1)), 404, 'PATH_NOT_FOUND');
  // On an /api/v1/ path the body's id is echoed (Odoo clients match answers by id).
  assertRefusal(await t.post('/api/v1/no/such/method', { jsonrpc: '2.0', id: 1, method: 'call', params: {} }), 404, 'PATH_NOT_FOUND', 1);
});

// --- Odoo style and HTTP status -------------------------------------------------------------------

test('Odoo-style POST /api/v1/system/ping with method "call" answers', async () => {
  const res = await t.odoo('system/ping');
  assert.is(res.status, 200);
  assert.is(res.body.jsonrpc, '2.0');
  assert.is(res.body.result.pong, true);
});

test('Odoo-style path with a method other than "call" -> -32600, HTTP 400', async () => {
  const res = await t.post('/api/v1/system/ping', { jsonrpc: '2.0', id: 7, method: 'system.ping', params: {} });
  assert.is(res.status, 400, 'on /api/v1 a protocol error too answers its error.status');
  assert.is(res.body.id, 7);
  assert.is(res.body.result, undefined);
  assert.is(res.body.error.code, -32600);
  assert.is(res.body.error.message, 'Invalid Request');
  assert.is(res.body.error.data.error_code, 'INVALID_REQUEST');
  assert.match(res.body.error.data.detail, /"call"/);
});

test('a 401-class error: HTTP status is error.status on /api/v1, 200 on /jsonrpc', async () => {
  const odoo = await t.odoo('agents', {});
  assert.is(odoo.status, 401);
  assert.is(odoo.body.error.status, 401);
  assert.is(odoo.body.error.message, 'Authorization header is required');
  assert.is(odoo.body.error.data.error_code, 'AUTH_HEADER_REQUIRED');
  assert.is(odoo.body.error.data.instance, '/api/v1/agents');

  const jsonrpc = await t.rpc('agents.list', {});
  assert.is(jsonrpc.status, 200);
  assert.is(jsonrpc.body.error.status, 401);
  assert.is(jsonrpc.body.error.message, 'Authorization header is required');
  assert.is(jsonrpc.body.error.data.error_code, 'AUTH_HEADER_REQUIRED');
  assert.is(jsonrpc.body.error.data.instance, '/jsonrpc');
});

/** A single request on /api/v1 answers error.status; the same body on /jsonrpc answers 200. */
async function statusOnBothPaths(name: string, odooPath: string, body: unknown, errorCode: string, status: number, code: number) {
  const odoo = await t.post(odooPath, body);
  assert.is(odoo.status, status, `${name} on ${odooPath}: ${odoo.text}`);
  assert.is(odoo.body.error.status, status);
  assert.is(odoo.body.error.code, code);
  assert.is(odoo.body.error.data.error_code, errorCode, odoo.text);
  const jsonrpcBody = typeof body === 'string' ? body : { ...(body as object), method: odooPath.slice('/api/v1/'.length).replace(/\//g, '.') };
  const jsonrpc = await t.post('/jsonrpc', jsonrpcBody);
  assert.is(jsonrpc.status, 200, `${name} on /jsonrpc: ${jsonrpc.text}`);
  assert.is(jsonrpc.body.error.status, status);
}

test('one status rule: on /api/v1 a single request answers error.status for every error, protocol errors included; /jsonrpc answers 200', async () => {
  await statusOnBothPaths('parse error', '/api/v1/system/ping', '{"jsonrpc": "2.0", "method": ', 'PARSE_ERROR', 400, -32700);
  await statusOnBothPaths('empty body', '/api/v1/system/ping', '', 'PARSE_ERROR', 400, -32700);
  const wrongVersion = await t.post('/api/v1/system/ping', { jsonrpc: '1.0', id: 1, method: 'call' });
  assert.is(wrongVersion.status, 400, wrongVersion.text);
  assert.is(wrongVersion.body.error.data.error_code, 'INVALID_REQUEST');
  const notAnObject = await t.post('/api/v1/system/ping', '42');
  assert.is(notAnObject.status, 400, notAnObject.text);
  assert.is(notAnObject.body.error.data.error_code, 'INVALID_REQUEST');
  assert.is((await t.post('/jsonrpc', '42')).status, 200);
  await statusOnBothPaths('invalid params', '/api/v1/system/ping', { jsonrpc: '2.0', id: 1, method: 'call', params: { extra: 1 } }, 'INVALID_PARAMS', 400, -32602);
  await statusOnBothPaths('params not an object', '/api/v1/system/ping', { jsonrpc: '2.0', id: 1, method: 'call', params: [1] }, 'INVALID_PARAMS', 400, -32602);
  await statusOnBothPaths('unexpected exception', '/api/v1/test/boom', { jsonrpc: '2.0', id: 1, method: 'call', params: {} }, 'INTERNAL_ERROR', 500, -32603);
  await statusOnBothPaths('catalogue error', '/api/v1/agents/list', { jsonrpc: '2.0', id: 1, method: 'call', params: {} }, 'AUTH_HEADER_REQUIRED', 401, -32001);
  // An unknown method: on /api/v1 the path names it, so it is refused before JSON-RPC, 404 as well.
  assertRefusal(await t.post('/api/v1/no/such', { jsonrpc: '2.0', id: 1, method: 'call', params: {} }), 404, 'PATH_NOT_FOUND', 1);
  const unknown = await t.post('/jsonrpc', { jsonrpc: '2.0', id: 1, method: 'no.such' });
  assert.is(unknown.status, 200);
  assert.is(unknown.body.error.status, 404);
  assert.is(unknown.body.error.data.error_code, 'METHOD_NOT_FOUND');
  // A success is 200 on both. A request without id: /jsonrpc takes it for a notification (204); on
  // /api/v1 it is answered like any other (Odoo's rule), here with its error's status.
  assert.is((await t.post('/api/v1/system/ping', { jsonrpc: '2.0', id: 1, method: 'call' })).status, 200);
  assert.is((await t.post('/jsonrpc', { jsonrpc: '2.0', method: 'system.ping', params: { extra: 1 } })).status, 204);
  const noId = await t.post('/api/v1/system/ping', { jsonrpc: '2.0', method: 'call', params: { extra: 1 } });
  assert.is(noId.status, 400);
  assert.is(noId.body.id, null);
});

test('batches answer 200 on both paths: failing elements, an empty batch, an oversized one', async () => {
  const call = (id: number, params: unknown = {}) => ({ jsonrpc: '2.0', id, method: 'call', params });
  for (const path of ['/api/v1/system/ping', '/jsonrpc']) {
    const element = (id: number, params: unknown = {}) => (path === '/jsonrpc' ? { ...call(id, params), method: 'system.ping' } : call(id, params));
    const mixed = await t.post(path, [element(1), element(2, { extra: 1 }), { jsonrpc: '1.0', id: 3 }]);
    assert.is(mixed.status, 200, `${path}: ${mixed.text}`);
    assert.equal(mixed.body.map((r: any) => r.error?.data.error_code ?? 'ok'), ['ok', 'INVALID_PARAMS', 'INVALID_REQUEST']);
    const empty = await t.post(path, []);
    assert.is(empty.status, 200, `${path} []: ${empty.text}`);
    assert.is(empty.body.error.data.error_code, 'INVALID_REQUEST');
    const oversized = await t.post(path, Array.from({ length: 51 }, (_, i) => element(i + 1)));
    assert.is(oversized.status, 200, `${path} 51: ${oversized.text}`);
    assert.is(oversized.body.error.data.error_code, 'BATCH_TOO_LARGE');
  }
});

test('a batch on /api/v1 answers 200 even when its elements fail', async () => {
  const call = (id: number) => ({ jsonrpc: '2.0', id, method: 'call', params: {} });
  const res = await t.post('/api/v1/agents', [call(1), call(2)]);
  assert.is(res.status, 200);
  assert.is(res.body.length, 2);
  assert.ok(res.body.every((r: any) => r.error.status === 401 && r.error.data.error_code === 'AUTH_HEADER_REQUIRED'));
});

// --- request ids ----------------------------------------------------------------------------------

const auditRowsFor = async (requestId: string) => {
  await t.services.audit.flush();
  return t.services.db.sql`select request_id, client_request_id, method from api_access_log where request_id = ${requestId}`;
};

test("X-Request-Id: the caller's id is kept as client_request_id beside the service's own, never instead of it", async () => {
  const id = `client-Req_42.a:b-${process.pid}`;
  const calls = {
    error: await t.post('/jsonrpc', { jsonrpc: '2.0', id: 1, method: 'nope' }, { 'x-request-id': id }),
    ok: await t.rpc('system.ping', {}, { 'x-request-id': id }),
    odoo: await t.odoo('agents', {}, { 'x-request-id': id }),
    refused: await t.post('/jsonrpc', 'x', { 'content-type': 'text/plain', 'x-request-id': id }),
  };
  for (const [name, res] of Object.entries(calls)) {
    const own = res.headers.get('x-request-id') ?? '';
    assert.match(own, /^req_[A-Za-z0-9_-]+$/, `${name}: the response carries the service's own id`);
    if (res.body?.error) assert.is(res.body.error.data.request_id, own, `${name}: the error body quotes the service's id`);
    const lines = t.logs.filter((l) => l.request_id === own && (l.msg === 'call' || l.msg === 'refused'));
    assert.is(lines.length, 1, `${name}: one call line with the service's id`);
    assert.is(lines[0].client_request_id, id, `${name}: the caller's id beside it: ${JSON.stringify(lines)}`);
    assert.is(t.logs.filter((l) => l.request_id === id).length, 0, "the caller's id is never a log line's request_id");
    const rows = await auditRowsFor(own);
    assert.is(rows.length, 1, `${name}: one audit row under the service's id`);
    assert.is(rows[0].client_request_id, id);
  }
  assert.is((await auditRowsFor(id)).length, 0, "the caller's id is never an audit row's request_id");
});

test('X-Request-Id: too long or with control characters is not kept at all', async () => {
  for (const bad of ['a'.repeat(65), 'abc\tdef', 'has space', 'quote"d']) {
    const res = await t.post('/jsonrpc', ping(1), { 'x-request-id': bad });
    assert.is(res.status, 200);
    const given = res.headers.get('x-request-id') ?? '';
    assert.ok(given.startsWith('req_'), `${JSON.stringify(bad)} -> ${given}`);
    const [line] = t.logs.filter((l) => l.msg === 'call' && l.request_id === given);
    assert.ok(line, 'the call is logged');
    assert.is(line.client_request_id, undefined, `${JSON.stringify(bad)} is not logged`);
    const [row] = await auditRowsFor(given);
    assert.is(row.client_request_id, null);
  }
  const longest = 'b'.repeat(64);
  const res = await t.post('/jsonrpc', ping(1), { 'x-request-id': longest });
  assert.ok(res.headers.get('x-request-id')?.startsWith('req_'));
  assert.is((await auditRowsFor(res.headers.get('x-request-id')!))[0].client_request_id, longest, '64 characters are kept');
});

test('X-Request-Id is on every response: 200, 204, 404, 405, 413, 415, healthz', async () => {
  const responses = {
    ok: await t.rpc('system.ping'),
    notification: await t.post('/jsonrpc', { jsonrpc: '2.0', method: 'system.ping' }),
    notFound: await request('/nowhere'),
    notAllowed: await request('/jsonrpc', { method: 'GET' }),
    tooLarge: await t.post('/jsonrpc', padded(1024 * 1024 + 1)),
    mediaType: await t.post('/jsonrpc', 'x', { 'content-type': 'text/plain' }),
    healthz: await request('/healthz'),
  };
  assert.equal(
    Object.fromEntries(Object.entries(responses).map(([k, r]) => [k, r.status])),
    { ok: 200, notification: 204, notFound: 404, notAllowed: 405, tooLarge: 413, mediaType: 415, healthz: 200 },
  );
  for (const [name, res] of Object.entries(responses)) {
    assert.match(res.headers.get('x-request-id') ?? '', /^req_[A-Za-z0-9_-]+$/, name);
  }
});

// --- the boundary for the unexpected ----------------------------------------------------------------

test('an unexpected exception -> -32603 with the request id, no internals in the body, the stack in the log', async () => {
  const res = await t.post('/jsonrpc', { jsonrpc: '2.0', id: 'b1', method: 'test.boom' });
  const requestId = res.headers.get('x-request-id');
  assert.is(res.status, 200);
  assert.is(res.body.id, 'b1');
  assert.is(res.body.error.code, -32603);
  assert.is(res.body.error.message, 'Internal error');
  assert.is(res.body.error.status, 500);
  assert.is(res.body.error.data.error_code, 'INTERNAL_ERROR');
  assert.is(res.body.error.data.request_id, requestId);
  assert.not.match(res.text, 'secret internal detail');
  assert.not.match(res.text, /\bat .*\.ts:\d+/);
  assert.not.match(res.text, 'stack');

  const logged = t.logs.filter((l) => l.request_id === requestId && JSON.stringify(l).includes('secret internal detail'));
  assert.ok(logged.length >= 1, 'the failure is logged with its request id');
  const err = logged[0].err as { message?: string; stack?: string } | undefined;
  assert.is(err?.message, 'secret internal detail');
  assert.match(err?.stack ?? '', /Error: secret internal detail\n\s+at /);
});

// --- call logs ------------------------------------------------------------------------------------

test('one "call" log line per call, with request_id, method, status, error_code, duration_ms', async () => {
  const okId = `log-ok-${process.pid}`;
  const failId = `log-fail-${process.pid}`;
  await t.post('/jsonrpc', { jsonrpc: '2.0', id: 1, method: 'system.ping' }, { 'x-request-id': okId });
  await t.post('/api/v1/agents', { jsonrpc: '2.0', id: 2, method: 'call', params: {} }, { 'x-request-id': failId });

  const ok = t.logs.filter((l) => l.msg === 'call' && l.client_request_id === okId);
  assert.is(ok.length, 1);
  assert.is(ok[0].method, 'system.ping');
  assert.is(ok[0].status, 200);
  assert.is(ok[0].error_code, undefined);
  assert.type(ok[0].duration_ms, 'number');
  assert.ok((ok[0].duration_ms as number) >= 0);

  const fail = t.logs.filter((l) => l.msg === 'call' && l.client_request_id === failId);
  assert.is(fail.length, 1);
  assert.is(fail[0].method, 'agents.list');
  assert.is(fail[0].status, 401);
  assert.is(fail[0].error_code, 'AUTH_HEADER_REQUIRED');
  assert.type(fail[0].duration_ms, 'number');
});

test('a batch logs one "call" line per element', async () => {
  const id = `log-batch-${process.pid}`;
  await t.post('/jsonrpc', [ping(1), { jsonrpc: '2.0', id: 2, method: 'nope' }, 5], { 'x-request-id': id });
  const lines = t.logs.filter((l) => l.msg === 'call' && l.client_request_id === id);
  assert.is(lines.length, 3);
  assert.is(new Set(lines.map((l) => l.request_id)).size, 1, "the batch's elements share the service's request id");
  const codes = lines.map((l) => `${l.method}:${l.status}:${l.error_code ?? '-'}`).sort();
  assert.equal(codes, ['(invalid):400:INVALID_REQUEST', 'nope:404:METHOD_NOT_FOUND', 'system.ping:200:-']);
});

// --- health -----------------------------------------------------------------------------------------

test('GET /healthz -> 200', async () => {
  const res = await request('/healthz');
  assert.is(res.status, 200);
  assert.equal(res.body, { status: 'ok' });
});

test('GET /readyz -> 200 with PostgreSQL and the cache ok', async () => {
  const res = await request('/readyz');
  assert.is(res.status, 200);
  assert.is(res.body.ok, true);
  assert.is(res.body.postgres, 'ok');
  assert.is(res.body.cache, 'ok');
  assert.is(res.body.database_kind, t.services.db.kind);
  assert.is(res.body.cache_kind, t.services.cache.kind);
});

// The common call is served on Node's http directly (server/http/rpcTransport.ts); a chunked body
// goes through the Koa app. Both must answer every request alike: status, headers, body.
async function rawPost(path: string, body: string, framing: 'length' | 'chunked', contentType = 'application/json') {
  const { request: send } = await import('node:http');
  const url = new URL(t.url + path);
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': contentType };
    if (framing === 'length') headers['content-length'] = Buffer.byteLength(body);
    else headers['transfer-encoding'] = 'chunked';
    const req = send({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('the direct transport and the Koa app answer alike (Content-Length versus chunked bodies)', async () => {
  const cases: [string, string, string?][] = [
    ['/jsonrpc', JSON.stringify(ping(1))],
    ['/api/v1/system/ping', JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'call', params: {} })],
    ['/jsonrpc', '\uFEFF' + JSON.stringify(ping(3))],
    ['/jsonrpc', '{"jsonrpc":"2.0","id":4,"method":"system.ping","params":{"__proto__":{"x":1}}}'],
    ['/jsonrpc', '{"jsonrpc":"2.0","id":5,"method":"system.ping","result":1}'],
    ['/jsonrpc', '{"jsonrpc":"2.0","id":6,"method":"no.such"}'],
    ['/jsonrpc', '{"jsonrpc":"2.0","method":"system.ping"}'],
    ['/jsonrpc', '[{"jsonrpc":"2.0","id":7,"method":"system.ping"},{"jsonrpc":"2.0","id":8}]'],
    ['/jsonrpc', '{"jsonrpc":"2.0","id":9,"method":"test.boom"}'],
    ['/api/v1/test/boom', '{"jsonrpc":"2.0","id":10,"method":"call"}'],
    ['/jsonrpc', '{"jsonrpc":'],
    ['/jsonrpc', '   '],
    ['/jsonrpc', JSON.stringify(ping(11)), 'application/json-rpc; charset=UTF-8'],
  ];
  const normal = (text: string) => text.replace(/req_[A-Za-z0-9_-]+/g, 'req_*').replace(/"(time|timestamp)":"[^"]+"/g, '"$1":"*"');
  const seen = new Set<string>();
  for (const [path, body, type] of cases) {
    const [direct, koa] = [await rawPost(path, body, 'length', type), await rawPost(path, body, 'chunked', type)];
    const what = `${path} ${JSON.stringify(body)}`;
    assert.is(direct.status, koa.status, what);
    assert.is(normal(direct.text), normal(koa.text), what);
    for (const name of ['content-type', 'cache-control', 'retry-after']) assert.is(direct.headers[name], koa.headers[name], `${what}: ${name}`);
    for (const res of [direct, koa]) {
      const id = res.headers['x-request-id'] as string;
      assert.ok(id && !seen.has(id), `${what}: a new X-Request-Id on each answer`);
      seen.add(id);
    }
  }
});

test.run();
