import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from './support/tether.ts';
import { loggedIn } from './support/fixtures.ts';

let t: TestTether;
test.before(async () => {
  t = await startTestTether();
});
test.after(async () => {
  await t.close();
});

test('token, login, a protected call, logout, then reuse is refused', async () => {
  const s = await loggedIn(t);
  assert.is(s.sessionId.length, 80);
  const list = await s.call('agents.list', { limit: 5 });
  assert.is(list.body.result.limit, 5);
  const out = await s.call('users.logout');
  assert.is(out.body.result.logged_out, true);
  const again = await s.call('agents.list');
  assert.is(again.body.error.message, 'Session required');
  assert.is(again.body.error.data.error_code, 'SESSION_REQUIRED');
});

test.run();
