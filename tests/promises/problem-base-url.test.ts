// README (Configuration): PROBLEM_BASE_URL is the prefix of error.data.type, on both transports.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';

const BASE = 'https://errors.example.test/tether-problems';
let t: TestTether;
test.before(async () => {
  t = await startTestTether({ PROBLEM_BASE_URL: BASE });
});
test.after(async () => {
  await t?.close();
});

test('PROBLEM_BASE_URL prefixes error.data.type on /jsonrpc and /api/v1', async () => {
  const rpc = await t.rpc('me', {});
  assert.is(rpc.body.error?.data?.error_code, 'AUTH_HEADER_REQUIRED', rpc.text);
  assert.is(rpc.body.error.data.type, `${BASE}/auth-header-required`);
  const odoo = await t.odoo('agents/list', {});
  assert.is(odoo.status, 401);
  assert.is(odoo.body.error.data.type, `${BASE}/auth-header-required`);
  const unknown = await t.rpc('no.such.method');
  assert.is(unknown.body.error.data.type, `${BASE}/method-not-found`);
});

test.run();
