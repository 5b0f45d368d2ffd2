// Every example of the JSON-RPC 2.0 specification's examples section
// (https://www.jsonrpc.org/specification#examples), sent byte for byte to the live server on
// POST /jsonrpc, plus the DESIGN.md error shape on each error answer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from './support/tether.ts';
import { specExamples } from './support/specExamples.ts';

let t: TestTether;
test.before(async () => {
  t = await startTestTether({}, { methods: specExamples });
});
test.after(async () => {
  await t.close();
});

let seq = 0;
/** POST the raw text with a request id of our own (kept as client_request_id); data.request_id is the service's, the one in X-Request-Id. */
async function send(raw: string) {
  const clientRequestId = `spec-${process.pid}-${++seq}`;
  const res = await t.post('/jsonrpc', raw, { 'x-request-id': clientRequestId });
  const requestId = res.headers.get('x-request-id') ?? '';
  assert.match(requestId, /^req_/, "the service's own request id, never the caller's");
  return { ...res, requestId, clientRequestId };
}

/** The DESIGN.md error shape: JSON-RPC code/message plus status and an RFC 9457 problem in data. */
function assertError(error: any, code: number, message: string, errorCode: string, requestId: string) {
  assert.ok(error, 'an error member');
  assert.is(error.code, code);
  assert.is(error.message, message);
  assert.type(error.status, 'number');
  assert.is(error.data.status, error.status);
  assert.is(error.data.error_code, errorCode);
  assert.is(error.data.request_id, requestId);
  assert.is(error.data.instance, '/jsonrpc');
  assert.type(error.data.title, 'string');
  assert.type(error.data.detail, 'string');
  assert.ok(String(error.data.type).endsWith('/' + errorCode.toLowerCase().replace(/_/g, '-')), `problem type ${error.data.type}`);
  assert.ok(!Number.isNaN(Date.parse(error.data.timestamp)), 'ISO timestamp');
}

const byId = (responses: any[]) => new Map(responses.map((r) => [r.id, r]));

test('rpc call with positional parameters: subtract [42, 23] -> 19', async () => {
  const res = await send('{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}');
  assert.is(res.status, 200);
  assert.equal(res.body, { jsonrpc: '2.0', result: 19, id: 1 });
});

test('rpc call with positional parameters: subtract [23, 42] -> -19', async () => {
  const res = await send('{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}');
  assert.is(res.status, 200);
  assert.equal(res.body, { jsonrpc: '2.0', result: -19, id: 2 });
});

test('rpc call with named parameters: {subtrahend, minuend} -> 19', async () => {
  const res = await send('{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}');
  assert.is(res.status, 200);
  assert.equal(res.body, { jsonrpc: '2.0', result: 19, id: 3 });
});

test('rpc call with named parameters: {minuend, subtrahend} -> 19', async () => {
  const res = await send('{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}');
  assert.is(res.status, 200);
  assert.equal(res.body, { jsonrpc: '2.0', result: 19, id: 4 });
});

test('a notification gets no response: update [1,2,3,4,5]', async () => {
  const res = await send('{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}');
  assert.is(res.status, 204);
  assert.is(res.text, '');
});

test('a notification to a non-existent method gets no response either: foobar', async () => {
  const res = await send('{"jsonrpc": "2.0", "method": "foobar"}');
  assert.is(res.status, 204);
  assert.is(res.text, '');
});

test('rpc call of non-existent method -> -32601 with the id echoed', async () => {
  const res = await send('{"jsonrpc": "2.0", "method": "foobar", "id": "1"}');
  assert.is(res.status, 200);
  assert.is(res.body.jsonrpc, '2.0');
  assert.is(res.body.id, '1');
  assert.is(res.body.result, undefined);
  assertError(res.body.error, -32601, 'Method not found', 'METHOD_NOT_FOUND', res.requestId);
});

test('rpc call with invalid JSON -> -32700, id null', async () => {
  const res = await send('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]');
  assert.is(res.status, 200);
  assert.is(res.body.jsonrpc, '2.0');
  assert.is(res.body.id, null);
  assertError(res.body.error, -32700, 'Parse error', 'PARSE_ERROR', res.requestId);
});

test('rpc call with invalid Request object -> -32600, id null', async () => {
  const res = await send('{"jsonrpc": "2.0", "method": 1, "params": "bar"}');
  assert.is(res.status, 200);
  assert.ok(!Array.isArray(res.body), 'a single object');
  assert.is(res.body.id, null);
  assertError(res.body.error, -32600, 'Invalid Request', 'INVALID_REQUEST', res.requestId);
});

test('rpc call batch with invalid JSON -> one -32700 object', async () => {
  const res = await send(`[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
]`);
  assert.is(res.status, 200);
  assert.ok(!Array.isArray(res.body), 'a single object, not an array');
  assert.is(res.body.id, null);
  assertError(res.body.error, -32700, 'Parse error', 'PARSE_ERROR', res.requestId);
});

test('rpc call with an empty Array -> one -32600 object', async () => {
  const res = await send('[]');
  assert.is(res.status, 200);
  assert.ok(!Array.isArray(res.body), 'a single object, not an array');
  assert.is(res.body.id, null);
  assertError(res.body.error, -32600, 'Invalid Request', 'INVALID_REQUEST', res.requestId);
});

test('rpc call with an invalid Batch (but not empty): [1] -> an array of one -32600', async () => {
  const res = await send('[1]');
  assert.is(res.status, 200);
  assert.ok(Array.isArray(res.body), 'an array');
  assert.is(res.body.length, 1);
  assert.is(res.body[0].id, null);
  assertError(res.body[0].error, -32600, 'Invalid Request', 'INVALID_REQUEST', res.requestId);
});

test('rpc call with an invalid Batch: [1,2,3] -> three -32600', async () => {
  const res = await send('[1,2,3]');
  assert.is(res.status, 200);
  assert.ok(Array.isArray(res.body), 'an array');
  assert.is(res.body.length, 3);
  for (const answer of res.body) {
    assert.is(answer.jsonrpc, '2.0');
    assert.is(answer.id, null);
    assertError(answer.error, -32600, 'Invalid Request', 'INVALID_REQUEST', res.requestId);
  }
});

test('rpc call Batch: five answers, compared by id whatever their order', async () => {
  const res = await send(`[
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
  {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
  {"foo": "boo"},
  {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
  {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
]`);
  assert.is(res.status, 200);
  assert.ok(Array.isArray(res.body), 'an array');
  assert.is(res.body.length, 5, 'the notification gets no answer');
  const answers = byId(res.body);
  assert.is(answers.size, 5, 'distinct ids');
  assert.equal(answers.get('1'), { jsonrpc: '2.0', result: 7, id: '1' });
  assert.equal(answers.get('2'), { jsonrpc: '2.0', result: 19, id: '2' });
  assert.equal(answers.get('9'), { jsonrpc: '2.0', result: ['hello', 5], id: '9' });
  const invalid = answers.get(null);
  assert.ok(invalid, 'the {"foo": "boo"} answer has id null');
  assertError(invalid.error, -32600, 'Invalid Request', 'INVALID_REQUEST', res.requestId);
  const missing = answers.get('5');
  assert.is(missing.result, undefined);
  assertError(missing.error, -32601, 'Method not found', 'METHOD_NOT_FOUND', res.requestId);
});

test('rpc call Batch (all notifications) -> nothing is returned', async () => {
  const res = await send(`[
  {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
  {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
]`);
  assert.is(res.status, 204);
  assert.is(res.text, '');
});

test('notifications are still carried out and logged: one call line each', async () => {
  const res = await send(`[
  {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
  {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
]`);
  assert.is(res.status, 204);
  const lines = t.logs.filter((l) => l.msg === 'call' && l.request_id === res.requestId && l.client_request_id === res.clientRequestId);
  assert.equal(lines.map((l) => l.method).sort(), ['notify_hello', 'notify_sum']);
  assert.ok(lines.every((l) => l.status === 200 && l.error_code === undefined), JSON.stringify(lines));
});

test('ids are echoed unchanged: string, number and null', async () => {
  for (const id of ['abc-123', 7.5, 0, null]) {
    const res = await send(JSON.stringify({ jsonrpc: '2.0', method: 'subtract', params: [5, 3], id }));
    assert.is(res.status, 200);
    assert.equal(res.body, { jsonrpc: '2.0', result: 2, id });
  }
});

test('invalid params (wrong positional arity) -> -32602 with the id echoed', async () => {
  const res = await send('{"jsonrpc": "2.0", "method": "subtract", "params": [42], "id": 10}');
  assert.is(res.status, 200);
  assert.is(res.body.id, 10);
  assertError(res.body.error, -32602, 'Invalid params', 'INVALID_PARAMS', res.requestId);
});

test.run();
