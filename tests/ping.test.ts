import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from './support/tether.ts';

let t: TestTether;
test.before(async () => {
  t = await startTestTether();
});
test.after(async () => {
  await t.close();
});

test('system.ping answers on /jsonrpc with a request id', async () => {
  const res = await t.rpc('system.ping');
  assert.is(res.status, 200);
  assert.is(res.body.result.pong, true);
  assert.ok(res.headers.get('x-request-id')?.startsWith('req_'));
});

test('system.ping answers on the Odoo-style path', async () => {
  const res = await t.odoo('system/ping');
  assert.is(res.status, 200);
  assert.is(res.body.result.pong, true);
});

test.run();
