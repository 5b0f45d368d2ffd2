// README ("Design decisions"): a login for an unknown user hashes against a dummy, so both failures
// take the same work and give the same message. The work is counted, not timed: every login check
// adds one to tether_password_hashes_total (one argon2id verify), whether the user exists or not.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { clientHeaders, newClient, newUser, tokenFor, unique } from '../support/fixtures.ts';
import { ERROR_TABLE } from '../support/errorTable.ts';

let t: TestTether;
test.before(async () => {
  // The per-login throttle off: it refuses before hashing, which is the throttle tests' business.
  t = await startTestTether({ LOGIN_MAX_FAILURES_PER_LOGIN: '0' });
});
test.after(async () => {
  await t?.close();
});

async function hashesSoFar(): Promise<number> {
  const text = await (await fetch(t.url + '/metrics')).text();
  const match = /^tether_password_hashes_total (\d+)/m.exec(text);
  assert.ok(match, 'tether_password_hashes_total is exported');
  return Number(match![1]);
}

test('unknown user, wrong password, right password: one password hash each, the same refusal for both failures', async () => {
  const token = await tokenFor(t, await newClient(t));
  const user = await newUser(t);
  const headers = clientHeaders(token);
  const login = (login: string, password: string) => t.rpc('users.login', { login, password }, headers);
  // The dummy hash is made once per process, on the first unknown login: not part of a login's work.
  await login(unique('nobody'), 'warm-up');

  const cases: Array<[string, () => Promise<{ body: any }>]> = [
    ['unknown user', () => login(unique('nobody'), 'whatever-password')],
    ['wrong password', () => login(user.login, 'not-the-password')],
    ['right password', () => login(user.login, user.password)],
  ];
  for (let round = 0; round < 3; round++) {
    for (const [what, attempt] of cases) {
      const before = await hashesSoFar();
      const res = await attempt();
      assert.is((await hashesSoFar()) - before, 1, `${what}: exactly one password hash`);
      if (what === 'right password') assert.type(res.body.result?.session_id, 'string');
      else {
        assert.is(res.body.error?.message, ERROR_TABLE.AUTHENTICATION_FAILED.message, `${what}: ${JSON.stringify(res.body)}`);
        assert.is(res.body.error.data.error_code, 'AUTHENTICATION_FAILED');
      }
    }
  }
});

test.run();
