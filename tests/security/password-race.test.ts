// Credentials are checked under the lock that opens a session: a password change (or an admin's
// reset) racing logins with the old password (argon2 takes tens of ms, so they are in flight for a
// while) leaves no session opened with the old password. Two instances on a throwaway PostgreSQL and
// Redis (both modes); 20 rounds each, 4 logins in flight on the two instances.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TestTether } from '../support/tether.ts';
import { startPair, type Pair } from '../support/pair.ts';
import { clientHeaders, loggedIn, newClient, newUser, tokenFor } from '../support/fixtures.ts';

const ROUNDS = 20;
let pair: Pair;
let a: TestTether;
let b: TestTether;

test.before(async () => {
  // Throttle off: 80 logins of one account per test is the point here, not a guess.
  pair = await startPair({ env: { LOGIN_MAX_FAILURES_PER_LOGIN: '0', MAX_SESSIONS_PER_USER: '100' } });
  ({ a, b } = pair);
});
test.after(() => pair?.close());

async function activeOf(userId: number): Promise<number> {
  const [{ n }] = await a.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_sessions where user_id = ${userId} and is_active`;
  return n;
}

for (const kind of ['users.change_password', 'admin.users.reset_password'] as const) {
  test(`${kind} racing 4 logins with the old password on two instances: no old-password session survives (${ROUNDS} rounds)`, async () => {
    const client = await newClient(a);
    const headers = clientHeaders(await tokenFor(a, client));
    const admin = await loggedIn(a, { admin: true, scopes: ['admin'] });
    let opened = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const user = await newUser(a);
      const owner = await a.rpc('users.login', { login: user.login, password: user.password }, headers);
      const ownerSession = owner.body.result.session_id as string;
      const newPassword = `changed-${round}-${user.password}`;
      const logins = [a, b, a, b].map((x) => x.rpc('users.login', { login: user.login, password: user.password }, headers));
      const change =
        kind === 'users.change_password'
          ? b.rpc('users.change_password', { session_id: ownerSession, current_password: user.password, new_password: newPassword }, headers)
          : b.rpc('admin.users.reset_password', { session_id: admin.sessionId, user_id: user.id, new_password: newPassword }, admin.headers);
      const [changed, ...answers] = await Promise.all([change, ...logins]);
      assert.ok(changed.body?.result, `round ${round}: the change answered ${changed.text}`);
      const survivors: string[] = [];
      for (const answer of answers) {
        const sid = answer.body?.result?.session_id as string | undefined;
        if (!sid) {
          assert.is(answer.body?.error?.data?.error_code, 'AUTHENTICATION_FAILED', `round ${round}: a refused login says why: ${answer.text}`);
          continue;
        }
        opened++;
        for (const x of [a, b]) if ((await x.rpc('me', { session_id: sid }, headers)).body?.result) survivors.push(sid.slice(0, 8));
      }
      assert.equal(survivors, [], `round ${round}: sessions opened with the old password still work`);
      // In PostgreSQL too: only the caller's renewed session (a change) or none (a reset) is active.
      assert.is(await activeOf(user.id), kind === 'users.change_password' ? 1 : 0, `round ${round}: active rows`);
    }
    console.log(`[password-race] ${kind}: ${opened} of ${ROUNDS * 4} racing logins opened a session before the change (each ended by it)`);
  });
}

test.run();
