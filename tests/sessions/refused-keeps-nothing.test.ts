// A refused call never keeps a session alive, whichever check refused it: a revoked bearer, a
// disabled client, a missing scope, a non-admin user on an admin method, a fingerprint mismatch. The
// validated call's one cache round trip slides the idle TTL before the checks run; every refusal
// before the handler puts it back. Checked on the cache's TTL itself, in both modes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { clientHeaders, loggedIn, tokenFor } from '../support/fixtures.ts';
import { cacheKeyOf, hashOf } from '../../server/sessions/sessionId.ts';

const IDLE = 60;
let t: TestTether;
test.before(async () => {
  t = await startTestTether({ SESSION_IDLE_TIMEOUT: String(IDLE) });
});
test.after(async () => {
  await t?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
type Session = Awaited<ReturnType<typeof loggedIn>>;
const ttlOf = (s: Session) => t.services.cache.ttl(cacheKeyOf(hashOf(s.sessionId)));

/** The undo is written off the call's path: polls (bounded generously) until the TTL is back at or under `before`; answers the last TTL read. */
async function ttlBackUnder(s: Session, before: number): Promise<number> {
  let ttl = await ttlOf(s);
  for (const until = Date.now() + 10_000; ttl > before && Date.now() < until; ttl = await ttlOf(s)) await sleep(50);
  return ttl;
}

/** Logs in, lets a few seconds of idle time pass, makes the refused call, and checks the TTL did not come back to IDLE. */
async function refusedKeepsNothing(name: string, refuse: (s: Session) => Promise<{ body: any }>, code: string) {
  const s = await loggedIn(t);
  await sleep(3_000);
  const before = await ttlOf(s);
  assert.ok(before <= IDLE - 2, `${name}: idle time passed (${before})`);
  for (let i = 0; i < 3; i++) {
    const res = await refuse(s);
    assert.is(res.body?.error?.data?.error_code, code, `${name}: ${JSON.stringify(res.body)}`);
  }
  const after = await ttlBackUnder(s, before);
  assert.ok(after <= before, `${name}: TTL ${before} -> ${after}: a refused call slid the session`);
  // The owner's own good call still slides it.
  assert.ok((await s.call('me')).body?.result);
  assert.ok((await ttlOf(s)) >= IDLE - 1, `${name}: a good call slides`);
}

test('a revoked bearer with a valid session: refused, the session not kept alive', async () => {
  await refusedKeepsNothing(
    'revoked bearer',
    async (s) => {
      const other = await tokenFor(t, s.client);
      const res = await fetch(t.url + '/api/v1/auth/revoke', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: s.client.id, client_secret: s.client.secret, token: other }),
      });
      assert.is(res.status, 200);
      return t.rpc('me', { session_id: s.sessionId }, clientHeaders(other));
    },
    'TOKEN_REVOKED',
  );
});

test('a disabled OAuth client: refused, the session not kept alive', async () => {
  const s = await loggedIn(t);
  await sleep(3_000);
  const before = await ttlOf(s);
  await t.services.clients.setActive(s.client.id, false);
  const res = await s.call('me');
  assert.is(res.body?.error?.data?.error_code, 'TOKEN_REVOKED', res.text);
  assert.ok((await ttlBackUnder(s, before)) <= before, 'a refused call slid the session');
});

test('a missing scope (admin method, client without "admin"): refused, the session not kept alive', async () => {
  await refusedKeepsNothing('scope', (s) => s.call('admin.stats'), 'FORBIDDEN');
});

test('a fingerprint mismatch: refused, the session not kept alive', async () => {
  await refusedKeepsNothing('fingerprint', (s) => s.call('me', {}, { 'user-agent': 'Thief/1.0' }), 'SESSION_INVALID');
});

test('an admin-scoped client but a non-admin user: refused, the session not kept alive', async () => {
  const s = await loggedIn(t, { scopes: ['admin'] });
  await sleep(3_000);
  const before = await ttlOf(s);
  const res = await s.call('admin.stats');
  assert.is(res.body?.error?.data?.error_code, 'FORBIDDEN', res.text);
  assert.ok((await ttlBackUnder(s, before)) <= before, 'a refused call slid the session');
});

test.run();
