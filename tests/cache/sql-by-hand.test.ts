// PostgreSQL is the truth, whatever changed it: the troubleshooting guide's own remedies, typed in
// psql, take effect on every instance within a second. Real mode: two instances on the shared Redis
// and one with an in-process cache, all on the shared PostgreSQL, and the SQL sent on a connection of
// its own (as psql would); embedded: the one instance, and the SQL on its database. Each refusal is
// polled for with a generous bound; the delays are printed (the README promises 1 s).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, realStores, type TestTether } from '../support/tether.ts';
import { clientHeaders, loggedIn, sqlByHand, tokenFor } from '../support/fixtures.ts';
import { ERROR_TABLE } from '../support/errorTable.ts';
import { hashOf, cacheKeyOf } from '../../server/sessions/sessionId.ts';
import type { Sql } from '../../server/stores/database.ts';

let instances: TestTether[] = [];
let psql: Sql;
let closePsql = async () => {};
const delays: number[] = [];

test.before(async () => {
  const first = await startTestTether();
  instances = [first];
  if (realStores) {
    instances.push(await startTestTether());
    instances.push(await startTestTether({ REDIS_URL: '' }));
  }
  ({ sql: psql, close: closePsql } = sqlByHand(first));
});
test.after(async () => {
  await Promise.allSettled(instances.map((t) => t.close()));
  await closePsql();
  if (delays.length) console.log(`[sql-by-hand] delay until refused on every instance (ms): ${delays.map((d) => Math.round(d)).join(', ')}`);
});

type Session = Awaited<ReturnType<typeof loggedIn>>;
/** Appended to the names of the tests that run on every instance: how many there are differs by mode. */
const EVERY = realStores ? ' [real mode: three instances, two on Redis, one with an in-process cache]' : ' [embedded: the one instance]';

const call = (t: TestTether, s: Session, headers = s.headers) => t.rpc('me', { session_id: s.sessionId }, headers);

/** Polls every instance until each refuses with `code`; answers the time it took. */
async function refusedEverywhere(s: Session, code: keyof typeof ERROR_TABLE, headers = s.headers): Promise<number> {
  const started = performance.now();
  for (const t of instances) {
    const deadline = Date.now() + 15_000;
    let last: any;
    for (;;) {
      const res = await call(t, s, headers);
      last = res.body;
      if (res.body?.error?.data?.error_code === code) break;
      assert.ok(Date.now() < deadline, `instance ${t.url} ${t.services.cache.kind}: still ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.is(last.error.message, ERROR_TABLE[code].message);
  }
  const ms = performance.now() - started;
  delays.push(ms);
  return ms;
}

/** The session works on every instance (each cache holds it, sliding). */
async function worksEverywhere(s: Session): Promise<void> {
  for (const t of instances) {
    const res = await call(t, s);
    assert.ok(res.body?.result, `${t.services.cache.kind}: ${res.text}`);
  }
}

test('Scenario B: UPDATE api_sessions SET is_active = false ends the session on every instance' + EVERY, async () => {
  const s = await loggedIn(instances[0]);
  await worksEverywhere(s);
  await psql`update api_sessions set is_active = false where session_hash = ${hashOf(s.sessionId)}`;
  await refusedEverywhere(s, 'SESSION_REQUIRED');
  // The cache holds a tombstone in the entry's place: no call slid it back to life.
  const entry = await instances[0].services.cache.get(cacheKeyOf(hashOf(s.sessionId)));
  assert.ok(entry?.startsWith('!'), `a tombstone, not ${entry}`);
});

test('UPDATE users SET is_active = false refuses every session of the user on every instance' + EVERY, async () => {
  const s = await loggedIn(instances[0]);
  await worksEverywhere(s);
  await psql`update users set is_active = false where id = ${s.user.id}`;
  await refusedEverywhere(s, 'SESSION_REQUIRED');
});

test('security_token set to NULL: "Session token required" on every instance' + EVERY, async () => {
  const s = await loggedIn(instances[0]);
  await worksEverywhere(s);
  await psql`update api_sessions set security_token = null where session_hash = ${hashOf(s.sessionId)}`;
  await refusedEverywhere(s, 'SESSION_TOKEN_REQUIRED');
});

test('a session row deleted by hand is refused on every instance' + EVERY, async () => {
  const s = await loggedIn(instances[0]);
  await worksEverywhere(s);
  await psql`delete from api_sessions where session_hash = ${hashOf(s.sessionId)}`;
  await refusedEverywhere(s, 'SESSION_REQUIRED');
});

test('an OAuth client disabled by hand, or a token revoked by hand, is refused on every instance' + EVERY, async () => {
  const s = await loggedIn(instances[0]);
  await worksEverywhere(s);
  const second = await tokenFor(instances[0], s.client);
  const [{ jti }] = await psql<{ jti: string }[]>`select ${JSON.parse(Buffer.from(second.split('.')[1], 'base64url').toString()).jti as string} as jti`;
  for (const t of instances) assert.ok((await call(t, s, clientHeaders(second))).body?.result);
  await psql`insert into revoked_tokens (jti, client_id, expires_at) values (${jti}, ${s.client.id}, now() + interval '1 hour')`;
  await refusedEverywhere(s, 'TOKEN_REVOKED', clientHeaders(second));
  await psql`update oauth_clients set is_active = false where id = ${s.client.id}`;
  await refusedEverywhere(s, 'TOKEN_REVOKED');
});

test('the change log holds each change in order, with its kind', async () => {
  const s = await loggedIn(instances[0]);
  const hash = hashOf(s.sessionId);
  const [before] = await psql<{ pos: number }[]>`select coalesce(max(pos), 0)::float8 as pos from cache_changes`;
  await psql`update api_sessions set security_token = null where session_hash = ${hash}`;
  await psql`update api_sessions set is_active = false, end_reason = 'revoked' where session_hash = ${hash}`;
  const rows = await psql<{ kind: string; data: { reason?: string } }[]>`
    select kind, data from cache_changes where pos > ${before.pos} and key = ${hash} order by pos`;
  assert.equal(rows.map((r) => r.kind), ['session', 'session_end']);
  assert.is(rows[1].data.reason, 'revoked');
});

test('the change log is pruned past every cache TTL, never the recent rows', async () => {
  const [old] = await psql<{ pos: number }[]>`
    insert into cache_changes (at, kind, key, data) values (now() - interval '3 days', 'user', '0', '{}') returning pos::float8 as pos`;
  const s = await loggedIn(instances[0]);
  await psql`update api_sessions set is_active = false where session_hash = ${hashOf(s.sessionId)}`;
  const dropped = await instances[0].services.changes.prune(7200 + 3600);
  assert.ok(dropped >= 1, 'the old row dropped');
  const [{ n }] = await psql<{ n: number }[]>`select count(*)::int as n from cache_changes where pos = ${old.pos}`;
  assert.is(n, 0);
  const [{ recent }] = await psql<{ recent: number }[]>`select count(*)::int as recent from cache_changes where key = ${hashOf(s.sessionId)}`;
  assert.is(recent, 1, 'the recent end is kept');
});

test.run();
