// A refused call never keeps a session alive, whichever check refused it: a revoked bearer, a
// disabled client, a missing scope, a non-admin user on an admin method, a fingerprint mismatch. The
// validated call's one cache round trip slides the idle TTL before the checks run; every refusal
// before the handler puts it back. Checked on the cache's TTL itself, in both modes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { clientHeaders, loggedIn, tokenFor } from '../support/fixtures.ts';
import { cacheKeyOf, hashOf } from '../../server/sessions/sessionId.ts';

// Idle 600 s: a keep-alive (last_activity written) is due once a minute (idle / 10, at most 60 s), so
// the 20 s of idleness faked below never makes one due; what is checked is the slide alone.
const IDLE = 600;
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

/** The cache entry's last activity (`la`, whole seconds). */
const laOf = async (s: Session) => (JSON.parse((await t.services.cache.get(cacheKeyOf(hashOf(s.sessionId))))!) as { la: number }).la;

/**
 * The session made to look idle for `seconds`, in the cache entry itself: its last activity that much
 * earlier and its TTL the idle time then left, as the cache would hold them (no wait: no time window is
 * at stake here, only where a refused call leaves the TTL). A slide a refused call left in place would
 * put the TTL back at IDLE, which does not run down 20 s within ttlBackUnder's 10 s bound: the check
 * can fail. Answers the TTL read back and the entry's new last activity.
 */
async function idledFor(s: Session, seconds: number): Promise<{ ttl: number; la: number }> {
  const key = cacheKeyOf(hashOf(s.sessionId));
  const entry = JSON.parse((await t.services.cache.get(key))!) as { la: number };
  entry.la -= seconds;
  await t.services.cache.set(key, JSON.stringify(entry), IDLE - seconds);
  const ttl = await ttlOf(s);
  assert.ok(ttl <= IDLE - seconds, `idle time set (ttl ${ttl})`);
  return { ttl, la: entry.la };
}

/** Logs in, makes the session look idle for 20 s, makes the refused call, and checks the TTL did not come back to IDLE. */
async function refusedKeepsNothing(name: string, refuse: (s: Session) => Promise<{ body: any }>, code: string) {
  const s = await loggedIn(t);
  const before = (await idledFor(s, 20)).ttl;
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
  const before = (await idledFor(s, 20)).ttl;
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
  const before = (await idledFor(s, 20)).ttl;
  const res = await s.call('admin.stats');
  assert.is(res.body?.error?.data?.error_code, 'FORBIDDEN', res.text);
  assert.ok((await ttlBackUnder(s, before)) <= before, 'a refused call slid the session');
});

// A keep-alive (last_activity written to PostgreSQL and the entry's `la`) falls due once a minute at
// this idle time (idle / 10). A refusal must not make it either: else the undo above would read the new
// `la` and put the TTL back at IDLE, and PostgreSQL would say the session was used.
for (const [name, refuse, code] of [
  ['missing scope', (s: Session) => s.call('admin.stats'), 'FORBIDDEN'],
  ['non-admin user', (s: Session) => s.call('admin.stats'), 'FORBIDDEN'],
  ['fingerprint mismatch', (s: Session) => s.call('me', {}, { 'user-agent': 'Thief/1.0' }), 'SESSION_INVALID'],
] as const) {
  test(`a ${name} on a session with a keep-alive due: refused, neither last_activity nor the TTL moved`, async () => {
    const s = name === 'non-admin user' ? await loggedIn(t, { scopes: ['admin'] }) : await loggedIn(t);
    const { la: before } = await idledFor(s, 120);
    const lastActivity = async () => (await t.services.db.sql<{ last_activity: Date }[]>`select last_activity from api_sessions where session_hash = ${hashOf(s.sessionId)}`)[0].last_activity.getTime();
    const written = await lastActivity();
    const res = await refuse(s);
    assert.is(res.body?.error?.data?.error_code, code, JSON.stringify(res.body));
    const ttl = await ttlBackUnder(s, IDLE - 120);
    assert.ok(ttl <= IDLE - 120, `${name}: TTL back at ${ttl}: the refused call kept the session alive`);
    assert.is(await laOf(s), before, `${name}: the entry's last activity moved`);
    // (PostgreSQL's last_activity is written off the call's path, in whole seconds after the login's.)
    assert.is(await lastActivity(), written, `${name}: last_activity was written by a refused call`);
    assert.ok((await s.call('me')).body?.result, 'the owner\'s good call is accepted');
    const la = await laOf(s);
    assert.ok(la >= before + 119, `the good call made the keep-alive that was due (la ${before} -> ${la})`);
  });
}

test.run();
