// The cache is never a second truth. Two instances on a throwaway PostgreSQL and a throwaway Redis:
// - Redis unreachable (a TCP proxy cut between each instance and Redis) while a user logs out, an
//   admin disables a user, takes an admin flag, resets a password, and a token is revoked: every
//   change answers success (it is in PostgreSQL), is refused during the outage (PostgreSQL answers),
//   and stays refused on both instances once Redis answers again (the cache is behind the change log
//   and is caught up before it serves).
// - Redis restarted from an RDB snapshot taken before the same changes: the old entries and the old
//   position come back together, the cache is behind, and nothing old is served.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient } from 'redis';
import type { TestTether } from '../support/tether.ts';
import { startPair, type Pair } from '../support/pair.ts';
import type { TcpProxy } from '../support/tcpProxy.ts';
import { clientHeaders, loggedIn, revokeToken, tokenFor } from '../support/fixtures.ts';
import { ERROR_TABLE } from '../support/errorTable.ts';
import { eventually } from './load.ts';
import { cacheKeyOf, hashOf } from '../../server/sessions/sessionId.ts';

let pair: Pair;
let proxies: TcpProxy[] = [];
let a: TestTether;
let b: TestTether;

test.before(async () => {
  pair = await startPair({ proxied: ['a', 'b'] });
  ({ a, b } = pair);
  proxies = [pair.proxies.a!, pair.proxies.b!];
});
test.after(() => pair?.close());

type Session = Awaited<ReturnType<typeof loggedIn>>;
const codeOf = (res: { body: any }) => res.body?.error?.data?.error_code as string | undefined;

/** Five sessions, each with the change that will be made to it and the refusal that must follow. */
async function fiveChanges() {
  const admin = await loggedIn(a, { admin: true, scopes: ['admin'] });
  const ended = await loggedIn(a);
  const disabled = await loggedIn(a);
  const demoted = await loggedIn(a, { admin: true, scopes: ['admin'] });
  const revoked = await loggedIn(a);
  const reset = await loggedIn(a);
  const all = [admin, ended, disabled, demoted, revoked, reset];
  // Every entry cached and used on both instances.
  for (const x of [a, b]) for (const s of all) assert.ok((await x.rpc('me', { session_id: s.sessionId }, s.headers)).body?.result, 'works before');
  for (const x of [a, b]) assert.ok((await x.rpc('admin.stats', { session_id: demoted.sessionId }, demoted.headers)).body?.result, 'admin before');
  const changes = async () => {
    const call = (method: string, params: Record<string, unknown>) => a.rpc(method, { session_id: admin.sessionId, ...params }, admin.headers);
    assert.is((await a.rpc('users.logout', { session_id: ended.sessionId }, ended.headers)).body?.result?.logged_out, true, 'logout answered');
    assert.ok((await call('admin.users.disable', { user_id: disabled.user.id })).body?.result, 'disable answered');
    assert.ok((await call('admin.users.set_admin', { user_id: demoted.user.id, is_admin: false })).body?.result, 'set_admin answered');
    await revokeToken(a, revoked);
    assert.ok((await call('admin.users.reset_password', { user_id: reset.user.id, new_password: 'a-new-password-4-reset!' })).body?.result, 'reset answered');
  };
  /** Every change refused on both instances; answers what each call said. */
  const refusedEverywhere = async (): Promise<string[]> => {
    const seen: string[] = [];
    for (const x of [a, b]) {
      const on = (s: Session, method = 'me') => x.rpc(method, { session_id: s.sessionId }, s.headers);
      seen.push(`${codeOf(await on(ended))}`, `${codeOf(await on(disabled))}`, `${codeOf(await on(demoted, 'admin.stats'))}`, `${codeOf(await on(revoked))}`, `${codeOf(await on(reset))}`);
      assert.ok((await on(admin)).body?.result, 'the admin session itself still works');
    }
    return seen;
  };
  return { changes, refusedEverywhere, ended, revoked };
}

const EXPECTED = ['SESSION_REQUIRED', 'SESSION_REQUIRED', 'FORBIDDEN', 'TOKEN_REVOKED', 'SESSION_REQUIRED'];

test('Redis unreachable during logout, disable, demotion, revocation and reset: each holds on both instances, during the outage and after', async () => {
  const { changes, refusedEverywhere, ended } = await fiveChanges();
  for (const p of proxies) p.cut();
  await changes();
  assert.equal(await refusedEverywhere(), [...EXPECTED, ...EXPECTED], 'during the outage');
  for (const p of proxies) p.restore();
  // Once both instances answer from Redis again, every change is still refused, call after call.
  assert.ok(await eventually(20_000, async () => (await Promise.all([a, b].map((x) => x.services.cache.ping().then(() => true)))).every(Boolean)), 'Redis answers again');
  for (let round = 0; round < 5; round++) assert.equal(await refusedEverywhere(), [...EXPECTED, ...EXPECTED], `after the outage, round ${round}`);
  // And the cache itself holds the truth now: the logged-out session's entry is a tombstone.
  const entry = await a.services.cache.get(cacheKeyOf(hashOf(ended.sessionId)));
  assert.ok(entry?.startsWith('!'), `tombstone in Redis, not ${entry}`);
  assert.ok(a.logsMatching('[CACHE BEHIND]').length + b.logsMatching('[CACHE BEHIND]').length >= 1, 'the missed writes are logged');
});

test('Redis restarted from a snapshot taken before the changes: nothing old is served on either instance', async () => {
  const { changes, refusedEverywhere, ended } = await fiveChanges();
  const direct = createClient({ url: pair.redis.url }).on('error', () => {});
  await direct.connect();
  await direct.sendCommand(['SAVE']); // the snapshot: every session live, the old position
  await direct.close();
  await changes();
  assert.equal(await refusedEverywhere(), [...EXPECTED, ...EXPECTED], 'before the restart');
  await pair.redis.restart(); // SIGTERM (no save configured), then loads the snapshot
  const back = createClient({ url: pair.redis.url }).on('error', () => {});
  await back.connect();
  const old = await back.get(cacheKeyOf(hashOf(ended.sessionId)));
  await back.close();
  assert.ok(old && old.startsWith('{'), `the snapshot brought the live entry back (the fault happened): ${old}`);
  assert.ok(await eventually(20_000, async () => (await Promise.all([a, b].map((x) => x.services.cache.ping().then(() => true)))).every(Boolean)), 'Redis answers again');
  for (let round = 0; round < 5; round++) assert.equal(await refusedEverywhere(), [...EXPECTED, ...EXPECTED], `after the restart, round ${round}`);
  const entry = await a.services.cache.get(cacheKeyOf(hashOf(ended.sessionId)));
  assert.ok(entry?.startsWith('!'), `caught up: a tombstone again, not ${entry}`);
});

test('a bearer revoked while Redis was cut stays refused with a session the cache still held', async () => {
  const s = await loggedIn(a);
  const second = await tokenFor(a, s.client);
  for (const x of [a, b]) assert.ok((await x.rpc('me', { session_id: s.sessionId }, clientHeaders(second))).body?.result);
  for (const p of proxies) p.cut();
  const res = await fetch(a.url + '/api/v1/auth/revoke', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: s.client.id, client_secret: s.client.secret, token: second }),
  });
  assert.is(res.status, 200);
  for (const p of proxies) p.restore();
  assert.ok(await eventually(20_000, async () => (await Promise.all([a, b].map((x) => x.services.cache.ping().then(() => true)))).every(Boolean)));
  for (const x of [a, b]) {
    const again = await x.rpc('me', { session_id: s.sessionId }, clientHeaders(second));
    assert.is(codeOf(again), 'TOKEN_REVOKED', again.text);
    assert.is(again.body.error.message, ERROR_TABLE.TOKEN_REVOKED.message);
  }
});

test.run();
