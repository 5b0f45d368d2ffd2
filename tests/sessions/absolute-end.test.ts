// The absolute end holds from the row as well as from the token, each on its own: a lifetime
// shortened in PostgreSQL (expires_at, typed in psql) ends a session whose token is still valid, and
// a token past its exp ends a session whose row was moved later. Either check alone would let a
// session live past its end if the other were lost. Both modes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { loggedIn } from '../support/fixtures.ts';
import { ERROR_TABLE } from '../support/errorTable.ts';
import { hashOf } from '../../server/sessions/sessionId.ts';
import { secondOf, waitOutTtl } from '../support/waits.ts';

let t: TestTether;
let short: TestTether;
test.before(async () => {
  t = await startTestTether();
  // A 3 s absolute lifetime, the idle timeout far away.
  short = await startTestTether({ SESSION_ABSOLUTE_TIMEOUT: '3' });
});
test.after(async () => {
  await Promise.allSettled([t?.close(), short?.close()]);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function expiredAbsolute(res: { body: any; text: string }, what: string) {
  assert.is(res.body?.error?.data?.error_code, 'SESSION_EXPIRED', `${what}: ${res.text}`);
  assert.is(res.body.error.message, ERROR_TABLE.SESSION_EXPIRED.message);
  assert.is(res.body.error.data.reason, 'absolute', `${what}: reason`);
}

test('expires_at moved into the past in PostgreSQL: refused as absolute though the token is valid, and the row ended', async () => {
  const s = await loggedIn(t);
  assert.ok((await s.call('me')).body?.result);
  await t.services.db.sql`update api_sessions set expires_at = now() - interval '1 second' where session_hash = ${hashOf(s.sessionId)}`;
  let res = await s.call('me');
  for (let i = 0; i < 100 && !res.body?.error; i++) {
    await sleep(50);
    res = await s.call('me');
  }
  await expiredAbsolute(res, 'row past its end');
  assert.is(res.body.error.data.session_timeout, t.config.sessionAbsoluteTimeout, 'the absolute lifetime, not the idle timeout');
  // The end is written off the call's path: poll for it, bounded generously.
  const rowOf = async () => (await t.services.db.sql<{ is_active: boolean; end_reason: string }[]>`select is_active, end_reason from api_sessions where session_hash = ${hashOf(s.sessionId)}`)[0];
  let row = await rowOf();
  for (const until = Date.now() + 10_000; row.is_active && Date.now() < until; row = await rowOf()) await sleep(50);
  assert.equal({ ...row }, { is_active: false, end_reason: 'absolute' }, 'the row ended');
});

test('the token past its exp while the row says later: refused as absolute', async () => {
  const s = await loggedIn(short);
  // The token's exp (signed during the login, lifetime 3 s) must pass for real: it is at most the
  // second the login answered in + 3.
  await waitOutTtl("the security token's exp", secondOf(Date.now()) + 3);
  // The row moved an hour later and the idle clock reset: only the token's exp can refuse now.
  await short.services.db.sql`update api_sessions set expires_at = now() + interval '1 hour', last_activity = now() where session_hash = ${hashOf(s.sessionId)}`;
  const res = await s.call('me');
  await expiredAbsolute(res, 'token past its exp');
  assert.is(res.body.error.data.session_timeout, 3);
});

test.run();
