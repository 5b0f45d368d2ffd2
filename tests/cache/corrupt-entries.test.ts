// A bad cache entry is a miss: garbage, the wrong shape or another version in a session, user, client
// or token key is read from PostgreSQL instead, logged as [CACHE CORRUPT] with the key's kind (never
// the id), and overwritten with the truth. Never a 500. Both modes (Redis and the in-process cache).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { loggedIn } from '../support/fixtures.ts';
import { cacheKeyOf, hashOf } from '../../server/sessions/sessionId.ts';
import { clientKey, tokenKey, userKey } from '../../server/cache/stateCache.ts';

let t: TestTether;
test.before(async () => {
  t = await startTestTether();
});
test.after(async () => {
  await t?.close();
});

const jtiOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { jti: string }).jti;

type Session = Awaited<ReturnType<typeof loggedIn>>;
const keys: Record<string, (s: Session) => string> = {
  session: (s) => cacheKeyOf(hashOf(s.sessionId)),
  user: (s) => userKey(s.user.id),
  client: (s) => clientKey(s.client.id),
  token: (s) => tokenKey(jtiOf(s.token)),
};
const GARBAGE = ['not json at all', '{"half": ', '[1,2,3]', '{"a":"yes","adm":1,"s":"admin"}', '\u0000\u00ff binary'];

for (const [kind, keyOf] of Object.entries(keys)) {
  test(`a corrupt ${kind} entry: the call answers from PostgreSQL, [CACHE CORRUPT] logged with kind "${kind}", the entry replaced`, async () => {
    for (const garbage of GARBAGE) {
      const s = await loggedIn(t);
      assert.ok((await s.call('me')).body?.result, 'works before');
      const key = keyOf(s);
      await t.services.cache.set(key, garbage, 600);
      const logged = t.logsMatching('[CACHE CORRUPT]').length;
      const res = await s.call('me');
      assert.is(res.status, 200, res.text);
      assert.ok(res.body?.result, `${kind} ${JSON.stringify(garbage)}: ${res.text}`);
      assert.is(res.body.result.user.id, s.user.id);
      const lines = t.logsMatching('[CACHE CORRUPT]').slice(logged);
      assert.ok(lines.some((l) => l.kind === kind), `${kind}: logged with its kind`);
      // Never the key: a session hash, a client id or a token id (a user id is a small number, which
      // any timestamp may contain: only the kind is checked there).
      if (kind !== 'user') for (const l of lines) assert.not.ok(JSON.stringify(l).includes(key.split(':')[1]), 'the log line names no id');
      const now = await t.services.cache.get(key);
      assert.is.not(now, garbage, `${kind}: replaced`);
      assert.ok((await s.call('me')).body?.result, 'and works after');
    }
  });
}

test('a session entry of another version is a miss, read from PostgreSQL and replaced', async () => {
  const s = await loggedIn(t);
  const key = keys.session(s);
  const entry = JSON.parse((await t.services.cache.get(key)) as string);
  await t.services.cache.set(key, JSON.stringify({ ...entry, v: 1 }), 600);
  const res = await s.call('me');
  assert.ok(res.body?.result, res.text);
  assert.is(JSON.parse((await t.services.cache.get(key)) as string).v, entry.v, 'rewritten at the current version');
});

test('a corrupt entry never answers a refusal it did not earn, and never a 500, in a batch of 30', async () => {
  const s = await loggedIn(t);
  await t.services.cache.set(keys.session(s), '{{{', 600);
  const batch = Array.from({ length: 30 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'me', params: { session_id: s.sessionId } }));
  const res = await t.post('/jsonrpc', batch, s.headers);
  assert.is(res.status, 200);
  for (const answer of res.body as any[]) assert.ok(answer.result, JSON.stringify(answer));
});


test('a session entry rewritten in the cache is read as written at the next call (entries are decoded once per text, not per session); an old last_activity is touched without a failure', async () => {
  const s = await loggedIn(t);
  const key = keys.session(s);
  assert.is((await s.call('me')).body?.result?.user.id, s.user.id, 'decoded once');
  const entry = JSON.parse((await t.services.cache.get(key)) as string);
  // What another instance's keep-alive or a restore may write: the same session, other text.
  const la = entry.la - 120;
  await t.services.cache.set(key, JSON.stringify({ ...entry, name: 'Renamed in the cache', la }), 600);
  const renamed = await s.call('me');
  assert.is(renamed.status, 200, renamed.text);
  assert.is(renamed.body.result.user.name, 'Renamed in the cache');
  // That last_activity is over a minute old: this call's keep-alive wrote a newer one (from a copy: the
  // decoded entry is shared by every call that reads the same text, and frozen).
  for (let i = 0; i < 100 && JSON.parse((await t.services.cache.get(key)) as string).la === la; i++) await new Promise((r) => setTimeout(r, 50));
  const after = JSON.parse((await t.services.cache.get(key)) as string);
  assert.ok(after.la > la, 'last_activity touched');
  assert.is(after.name, 'Renamed in the cache');
  const again = await s.call('me');
  assert.is(again.status, 200, again.text);
  assert.is(again.body.result.user.name, 'Renamed in the cache');
});

test.run();
