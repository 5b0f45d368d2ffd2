// Two README promises about one store going away, each on a throwaway server so killing it harms no
// one (and the same in both modes):
// - "Design decisions" / the faults table: with PostgreSQL down, a bearer token this process checked
//   in the last 5 minutes keeps its last status (a revoked one stays refused), one not seen gets 503.
// - logout while Redis is down: the session ends in PostgreSQL, the cache that could not take the end
//   is behind the change log (`[CACHE BEHIND]`), and the session is refused from the next call on,
//   during the outage and after Redis comes back.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { startThrowawayPostgres, startThrowawayRedis, type ThrowawayPostgres, type ThrowawayRedis } from '../support/throwaway.ts';
import { clientHeaders, loggedIn, tokenFor } from '../support/fixtures.ts';
import { ERROR_TABLE } from '../support/errorTable.ts';
import { storesEnv } from '../faults/load.ts';
import { hashOf } from '../../server/sessions/sessionId.ts';

let pg: ThrowawayPostgres | undefined;
let redis: ThrowawayRedis | undefined;
let t: TestTether | undefined;
test.after(async () => {
  await t?.close();
  await Promise.allSettled([pg?.stop(), redis?.stop()]);
});

const errorOf = (res: { body: any }) => ({ message: res.body?.error?.message, error_code: res.body?.error?.data?.error_code, status: res.body?.error?.status });
const expected = (code: keyof typeof ERROR_TABLE) => ({ message: ERROR_TABLE[code].message, error_code: code, status: ERROR_TABLE[code].status });

async function revoke(x: TestTether, client: { id: string; secret: string }, token: string): Promise<void> {
  const res = await fetch(x.url + '/api/v1/auth/revoke', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: client.id, client_secret: client.secret, token }),
  });
  assert.is(res.status, 200);
}

test('PostgreSQL down: a bearer seen valid keeps working on a cached session, one seen revoked stays refused, one never seen gets 503', async () => {
  pg = await startThrowawayPostgres();
  // The in-process cache: the session stays cached while PostgreSQL is away.
  t = await startTestTether(storesEnv(pg.url));
  const s = await loggedIn(t);
  const revoked = await tokenFor(t, s.client);
  const unseen = await tokenFor(t, s.client);
  await revoke(t, s.client, revoked);
  // This process checks both before the outage: one valid, one revoked.
  assert.ok((await s.call('me')).body.result);
  assert.equal(errorOf(await t.rpc('me', { session_id: s.sessionId }, clientHeaders(revoked))), expected('TOKEN_REVOKED'));

  await pg.kill();
  for (let i = 0; i < 3; i++) {
    const ok = await s.call('me');
    assert.ok(ok.body.result, `call ${i}: the seen token on the cached session: ${ok.text}`);
    assert.equal(errorOf(await t.rpc('me', { session_id: s.sessionId }, clientHeaders(revoked))), expected('TOKEN_REVOKED'), `call ${i}: revoked stays refused`);
    assert.equal(errorOf(await t.rpc('me', { session_id: s.sessionId }, clientHeaders(unseen))), expected('STORAGE_UNAVAILABLE'), `call ${i}: unseen gets 503`);
  }
  const odoo = await t.odoo('me', { session_id: s.sessionId }, clientHeaders(unseen));
  assert.is(odoo.status, 503, 'HTTP 503 on /api/v1');
  await t.close();
  t = undefined;
  await pg.stop();
  pg = undefined;
});

test('logout while Redis is down: ended in PostgreSQL, the cache logged as behind, refused during the outage and after', async () => {
  redis = await startThrowawayRedis();
  // PostgreSQL as the mode has it (the shared one, or the embedded one); only the Redis is killed.
  t = await startTestTether({ REDIS_URL: redis.url });
  const x = t;
  const s = await loggedIn(x);
  const other = await loggedIn(x);
  assert.ok((await s.call('me')).body.result);

  await redis.kill();
  const out = await s.call('users.logout');
  assert.is(out.body.result?.logged_out, true, out.text);
  const [row] = await x.services.db.sql<{ is_active: boolean; end_reason: string }[]>`select is_active, end_reason from api_sessions where session_hash = ${hashOf(s.sessionId)}`;
  assert.equal({ ...row }, { is_active: false, end_reason: 'logout' });
  assert.ok(x.logsMatching('[CACHE BEHIND]').length >= 1, 'the cache that could not take the end is logged as behind');
  assert.equal(errorOf(await s.call('me')), expected('SESSION_REQUIRED'), 'refused during the outage');
  assert.ok((await other.call('me')).body.result, 'other sessions work during the outage');

  await redis.restart(); // empty, on the same port
  assert.equal(errorOf(await s.call('me')), expected('SESSION_REQUIRED'), 'refused once Redis is back');
  assert.ok((await other.call('me')).body.result);
});

test.run();
