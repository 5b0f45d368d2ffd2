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
import { secondOf, waitOutTtl } from '../support/waits.ts';

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

/** Polls (every 10 ms, bounded generously) until `check` holds; fails naming `what` otherwise. */
async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  for (const end = Date.now() + ms; !check(); await sleep(10)) if (Date.now() > end) assert.unreachable(`not within ${ms} ms: ${what}`);
}

/** B's read of the key went through the proxy and its write of the key is held there: the moment for A's end. */
const readThroughWriteHeld = (key: string, before: number) => until(`B's read of ${key} through and its write held`, () => {
  const seen = slow.seen(key);
  return seen.forwarded > before && seen.held > 0;
});

/** Nothing of B's on the key is held any more and Redis has answered what went last: B's write has landed. */
const landed = (key: string) => until(`B's write of ${key} landed`, () => {
  const seen = slow.seen(key);
  return seen.held === 0 && seen.answered;
});
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
    const key = cacheKeyOf(hashOf(s.sessionId));
    await a.services.cache.del(key); // a miss: the next call restores from PostgreSQL
    const before = slow.seen(key).forwarded;
    slow.delay(DELAY);
    const onB = b.rpc('me', { session_id: s.sessionId }, s.headers); // lookup held DELAY, then PostgreSQL, then the restore held DELAY
    await readThroughWriteHeld(key, before);
    const out = await a.rpc('users.logout', { session_id: s.sessionId }, s.headers);
    assert.is(out.body?.result?.logged_out, true, out.text);
    await onB;
    await landed(key);
    slow.delay(0);
    await afterTheRace(s, `restore, round ${round}`);
  }
});

test('a keep-alive decided before a logout lands after it: the tombstone stands (the keep-alive only touches a live entry)', async () => {
  for (let round = 0; round < 3; round++) {
    const s = await loggedIn(a);
    const key = cacheKeyOf(hashOf(s.sessionId));
    // Past the touch interval (2 s since the login's second, time itself): B's next good call writes a keep-alive.
    await waitOutTtl('the touch interval', secondOf(Date.now()) + 1);
    const before = slow.seen(key).forwarded;
    slow.delay(DELAY);
    const onB = b.rpc('me', { session_id: s.sessionId }, s.headers); // lookup held DELAY, then the keep-alive held DELAY
    await readThroughWriteHeld(key, before);
    const out = await a.rpc('users.logout', { session_id: s.sessionId }, s.headers);
    assert.is(out.body?.result?.logged_out, true, out.text);
    assert.ok((await onB).body?.result, 'B answered its call, which began before the logout');
    await landed(key);
    slow.delay(0);
    await afterTheRace(s, `keep-alive, round ${round}`);
  }
});

test.run();
