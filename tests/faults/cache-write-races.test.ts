// The cache's conditional writes, each shown by the race it exists for. Two instances on a throwaway
// PostgreSQL and Redis; B reaches Redis through a proxy that can hold what B sends for a while, so a
// write B decided on before an end lands after A's end has answered:
// - a restore from PostgreSQL only fills an empty key (or a stale mark older than its read): B's
//   restore, read before the logout, lands on the logout's tombstone and must not revive it;
// - the keep-alive write never revives a tombstone: B's keep-alive, decided before the logout,
//   lands after it and must not revive it.
// Under an unconditional write either race revives a logged-out session, and A's next call is
// accepted. The delay (1.5 s) puts B's write well after A's logout on a busy machine.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TestTether } from '../support/tether.ts';
import { startPair, type Pair } from '../support/pair.ts';
import type { TcpProxy } from '../support/tcpProxy.ts';
import { loggedIn } from '../support/fixtures.ts';
import { cacheKeyOf, hashOf } from '../../server/sessions/sessionId.ts';

const DELAY = 1500;
let pair: Pair;
let slow: TcpProxy;
let a: TestTether;
let b: TestTether;

test.before(async () => {
  // An idle timeout of 20 s: the keep-alive writes once 2 s have passed since the last recorded activity.
  pair = await startPair({ env: { SESSION_IDLE_TIMEOUT: '20' }, proxied: ['b'] });
  ({ a, b } = pair);
  slow = pair.proxies.b!;
});
test.after(() => pair?.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const codeOf = (res: { body: any }) => res.body?.error?.data?.error_code as string | undefined;

async function afterTheRace(s: Awaited<ReturnType<typeof loggedIn>>, what: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const res = await a.rpc('me', { session_id: s.sessionId }, s.headers);
    assert.is(codeOf(res), 'SESSION_REQUIRED', `${what}: a logged-out session answered ${res.text}`);
  }
  const entry = await a.services.cache.get(cacheKeyOf(hashOf(s.sessionId)));
  assert.is(entry, '!logout', `${what}: the tombstone stands`);
}

test('a restore read before a logout lands after it: the tombstone stands (restore fills only an empty key)', async () => {
  for (let round = 0; round < 3; round++) {
    const s = await loggedIn(a);
    await a.services.cache.del(cacheKeyOf(hashOf(s.sessionId))); // a miss: the next call restores from PostgreSQL
    slow.delay(DELAY);
    const onB = b.rpc('me', { session_id: s.sessionId }, s.headers); // lookup held DELAY, then PostgreSQL, then the restore held DELAY
    await sleep(DELAY * 1.5);
    const out = await a.rpc('users.logout', { session_id: s.sessionId }, s.headers);
    assert.is(out.body?.result?.logged_out, true, out.text);
    await onB;
    await sleep(DELAY);
    slow.delay(0);
    await afterTheRace(s, `restore, round ${round}`);
  }
});

test('a keep-alive decided before a logout lands after it: the tombstone stands (the keep-alive only touches a live entry)', async () => {
  for (let round = 0; round < 3; round++) {
    const s = await loggedIn(a);
    await sleep(2_500); // past the touch interval: B's next good call writes a keep-alive
    slow.delay(DELAY);
    const onB = b.rpc('me', { session_id: s.sessionId }, s.headers); // lookup held DELAY, then the keep-alive held DELAY
    await sleep(DELAY * 1.5);
    const out = await a.rpc('users.logout', { session_id: s.sessionId }, s.headers);
    assert.is(out.body?.result?.logged_out, true, out.text);
    assert.ok((await onB).body?.result, 'B answered its call, which began before the logout');
    await sleep(DELAY);
    slow.delay(0);
    await afterTheRace(s, `keep-alive, round ${round}`);
  }
});

test.run();
