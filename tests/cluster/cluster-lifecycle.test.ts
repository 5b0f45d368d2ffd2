// Tether on a real Redis Cluster (six throwaway redis-server --cluster-enabled: 3 masters, 3
// replicas), two instances on it and on one throwaway PostgreSQL, in every mode (the test brings its
// own stores). Under load from both instances:
// - the whole session lifecycle: login on one, me and refresh on the other, logout, sessions.revoke,
//   admin.users.disable, a bearer revoked: each refused on the other instance at its next call;
// - a slot migration (`redis-cli --cluster reshard`) of the slots holding live sessions' groups:
//   MOVED and ASK redirections cost no call, and the moved sessions' ends still hold.
// A redis-server without cluster support fails start: this file fails, it never skips.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clientHeaders, loggedIn, tokenFor } from '../support/fixtures.ts';
import { cacheLookups, placeOf, sessionWhere, startClusterPair, type ClusterPair } from '../support/clusterPair.ts';
import { callAt, fmt, sleep, startLoad, tally, type Outcome } from '../faults/load.ts';
import type { TestTether } from '../support/tether.ts';
import { CLUSTER_TAGS, keySlot } from '../../server/cache/slotGroups.ts';

let pair: ClusterPair;
let a: TestTether;
let b: TestTether;

test.before(async () => {
  pair = await startClusterPair();
  ({ a, b } = pair);
});
test.after(() => pair?.close());

type Session = { sessionId: string; headers: Record<string, string> };
const on = (t: TestTether, s: Session, method = 'me', params: Record<string, unknown> = {}) => callAt(t.url, method, { session_id: s.sessionId, ...params }, s.headers, 'cluster');

/** A load of `me` over `sessions`, alternating the two instances. */
const meLoad = (sessions: Session[]) => startLoad({ workers: 8, ms: 60_000, call: (i) => on(i % 2 ? b : a, sessions[i % sessions.length]) });

async function until(what: string, ms: number, check: () => boolean | Promise<boolean>): Promise<void> {
  for (const end = Date.now() + ms; !(await check()); await sleep(20)) if (Date.now() > end) assert.unreachable(`not within ${ms} ms: ${what}`);
}

test('both instances run on the cluster: /readyz ok, a session entry lives in its group on the master of its tag\'s slot, with its state copies and its group\'s position', async () => {
  for (const t of [a, b]) {
    assert.is(t.services.cache.kind, 'redis');
    const ready = await fetch(t.url + '/readyz');
    const body = (await ready.json()) as { status: string };
    assert.is(ready.status, 200, JSON.stringify(body));
    assert.is(body.status, 'ok');
  }
  const s = await loggedIn(a);
  assert.is((await on(b, s)).status, 200);
  const place = placeOf(s.sessionId);
  const { master } = await pair.cluster.shardOf(place.slot);
  assert.is((await pair.cluster.cli(master.port, 'exists', place.key)).trim(), '1', `${place.key} on ${master.port}`);
  assert.is(Number((await pair.cluster.cli(master.port, 'cluster', 'keyslot', place.key)).trim()), place.slot);
  // The group's position sits beside it, and every group's copy of the user's state too.
  const keys = (await pair.cluster.cli(master.port, 'keys', `${place.tag}*`)).split('\n').filter(Boolean);
  assert.ok(keys.some((k) => k.startsWith(`${place.tag}cache:pos:`)), keys.join(' '));
  assert.ok(keys.includes(`${place.tag}user:${s.user.id}`), keys.join(' '));
  // A state key read from PostgreSQL after a miss (a second token's, first used with the session) is
  // filled in the calling session's group only: the other groups fill their own copy when a call
  // there misses it. (A call without a session, like the login, fills every group's.)
  const second = await tokenFor(a, s.client);
  assert.is((await on(b, { sessionId: s.sessionId, headers: clientHeaders(second) })).status, 200);
  const jti = JSON.parse(Buffer.from(second.split('.')[1], 'base64url').toString()).jti as string;
  assert.is((await pair.cluster.cli(master.port, 'exists', `${place.tag}token:${jti}`)).trim(), '1', 'the token filled in the session\'s group');
  const otherTag = CLUSTER_TAGS[(place.group + 1) % CLUSTER_TAGS.length];
  const otherMaster = (await pair.cluster.shardOf(keySlot(otherTag))).master;
  assert.is((await pair.cluster.cli(otherMaster.port, 'exists', `${otherTag}token:${jti}`)).trim(), '0', 'and not in another group');
});

test('the whole lifecycle across the two instances, under load on both: every change refused on the other at its next call, no loaded call fails', async () => {
  const bystanders = await Promise.all(Array.from({ length: 6 }, () => loggedIn(a)));
  const before = await cacheLookups(a, b);
  const load = meLoad(bystanders);
  try {
    await until('the load is answered', 30_000, () => load.outcomes.filter((o) => o.status === 200).length >= 20);
    // Login on A, me and refresh on B.
    const s = await loggedIn(a);
    assert.is((await on(b, s)).status, 200);
    const refreshed = await on(b, s, 'sessions.refresh');
    assert.ok(refreshed.body?.result?.expires_at, JSON.stringify(refreshed.body));
    assert.is((await on(a, s)).status, 200);
    // Logout on A: refused on B at once.
    assert.is((await on(a, s, 'users.logout')).body?.result?.logged_out, true);
    const afterLogout = await on(b, s);
    assert.is(afterLogout.status, 401);
    assert.is(afterLogout.errorCode, 'SESSION_REQUIRED');
    // sessions.revoke on B of a session used on A.
    const r = await loggedIn(a);
    const id = (await on(a, r)).body.result.session.id as number;
    const login = await callAt(b.url, 'users.login', { login: r.user.login, password: r.user.password }, r.headers, 'cluster');
    const other = { sessionId: login.body.result.session_id as string, headers: r.headers };
    assert.is((await on(b, other, 'sessions.revoke', { id })).body?.result?.revoked, 1);
    assert.is((await on(a, r)).errorCode, 'SESSION_REQUIRED');
    assert.is((await on(a, other)).status, 200, 'the revoking session still works');
    // A user disabled on B: their session refused on A.
    const admin = await loggedIn(b, { admin: true, scopes: ['admin'] });
    const victim = await loggedIn(a);
    assert.is((await on(a, victim)).status, 200);
    assert.ok((await on(b, admin, 'admin.users.disable', { user_id: victim.user.id })).body?.result, 'disabled');
    assert.is((await on(a, victim)).status, 401);
    // Admin taken away on A: refused admin on B.
    const demoted = await loggedIn(a, { admin: true, scopes: ['admin'] });
    assert.ok((await on(b, demoted, 'admin.stats')).body?.result, 'admin before');
    assert.ok((await on(a, admin, 'admin.users.set_admin', { user_id: demoted.user.id, is_admin: false })).body?.result);
    assert.is((await on(b, demoted, 'admin.stats')).errorCode, 'FORBIDDEN');
    // A bearer revoked on A: refused on B.
    const bearer = await loggedIn(a);
    assert.is((await on(b, bearer)).status, 200);
    const revoked = await fetch(a.url + '/api/v1/auth/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: bearer.client.id, client_secret: bearer.client.secret, token: bearer.token }),
    });
    assert.is(revoked.status, 200);
    assert.is((await on(b, bearer)).errorCode, 'TOKEN_REVOKED');
  } finally {
    load.stop();
  }
  const outcomes = await load.done;
  const after = await cacheLookups(a, b);
  console.log(`[cluster-lifecycle] load during the lifecycle: ${fmt(tally(outcomes))}; session cache lookups: ${after.hit - before.hit} hits, ${after.miss - before.miss} misses, ${after.error - before.error} errors`);
  assert.ok(outcomes.length > 0 && outcomes.every((o) => o.status === 200), fmt(tally(outcomes)));
  // Answered by the cluster, not by PostgreSQL behind a failing cache. (A lookup made while its own
  // instance's change is being applied waits for it, and falls back to PostgreSQL when another change
  // overtakes it: a few, on a loaded machine.)
  assert.ok(after.hit - before.hit >= outcomes.length * 0.95, `the load was answered from the cache: ${after.hit - before.hit} hits for ${outcomes.length} calls`);
});

test('a slot migration under load (redis-cli --cluster reshard): MOVED/ASK cost no call, ends made during and after it hold', async () => {
  // The master of slot 0 gives its first 1100 slots to another: that takes group 0's tag (its slot is below 1024).
  const tagSlot = keySlot(CLUSTER_TAGS[0]);
  assert.ok(tagSlot < 1024);
  const { master: from } = await pair.cluster.shardOf(0);
  const to = (await pair.cluster.topology()).find((n) => n.role === 'master' && n.id !== from.id && !n.failed)!;
  const moving = await Promise.all(Array.from({ length: 4 }, () => sessionWhere(() => loggedIn(a), (p) => p.group === 0)));
  const staying = await Promise.all(Array.from({ length: 4 }, () => loggedIn(b)));
  const load = meLoad([...moving, ...staying]);
  // Changes keep coming during the migration: logins and logouts on both instances (the change log's
  // follower applies each to every group, the moving one included).
  const churn: Outcome[] = [];
  let churning = true;
  const churnLoop = (async () => {
    for (let i = 0; churning; i++) {
      const t = i % 2 ? a : b;
      const s = await loggedIn(t);
      churn.push(await on(t === a ? b : a, s));
      churn.push(await on(t, s, 'users.logout'));
      const after = await on(t === a ? b : a, s);
      churn.push(after.errorCode === 'SESSION_REQUIRED' ? { ...after, status: 200, errorCode: undefined } : after);
    }
  })();
  const before = await cacheLookups(a, b);
  let resharded = '';
  try {
    await until('the load is answered', 30_000, () => load.outcomes.filter((o) => o.status === 200).length >= 20);
    const started = load.outcomes.length;
    resharded = await pair.cluster.cli(from.port, '--cluster', 'reshard', `127.0.0.1:${from.port}`, '--cluster-from', from.id, '--cluster-to', to.id, '--cluster-slots', '1100', '--cluster-yes');
    await pair.cluster.waitHealthy();
    await until('calls after the migration', 30_000, () => load.outcomes.length >= started + 50);
  } finally {
    load.stop();
    churning = false;
  }
  await churnLoop;
  const outcomes = await load.done;
  const after = await cacheLookups(a, b);
  const owner = await pair.cluster.shardOf(tagSlot);
  assert.is(owner.master.id, to.id, `group 0's slot ${tagSlot} moved (${resharded.split('\n').filter((l) => l.includes('Moving slot')).length} slots moved)`);
  console.log(`[cluster-lifecycle] reshard of 1100 slots under load: ${fmt(tally(outcomes))}; churn (login, me elsewhere, logout, refused elsewhere): ${fmt(tally(churn))}; session cache lookups: ${after.hit - before.hit} hits, ${after.error - before.error} errors`);
  assert.ok(after.hit - before.hit >= outcomes.length / 2, 'the cluster kept answering through the migration');
  assert.ok(outcomes.length > 0 && outcomes.every((o) => o.status === 200), fmt(tally(outcomes)));
  assert.ok(churn.length >= 3 && churn.every((o) => o.status === 200), `churn: ${fmt(tally(churn))}`);
  // After the move: an end in the moved group holds on both instances, and the entry is on the new master.
  const s = moving[0];
  assert.is((await on(b, s, 'users.logout')).body?.result?.logged_out, true);
  for (const t of [a, b]) assert.is((await on(t, s)).errorCode, 'SESSION_REQUIRED');
  assert.ok((await pair.cluster.cli(to.port, 'get', placeOf(s.sessionId).key)).startsWith('!'), 'a tombstone on the new master');
});

test('agents.list on the cluster: every group holds the agents\' version after a change; a change answered on B is in A\'s very next list, A\'s page memoised', async () => {
  const onA = await loggedIn(a);
  const onB = await sessionWhere(() => loggedIn(b), (p) => p.group !== placeOf(onA.sessionId).group);
  const list = async (s: Session, t: TestTether) => {
    const res = await on(t, s, 'agents.list', { limit: 100 });
    assert.is(res.status, 200, JSON.stringify(res.body));
    return res.body.result.items as Array<{ id: number; name: string }>;
  };
  const memoHits = async () => Number(/^tether_agents_page_memo_total\{result="hit"\} (\d+)/m.exec((await a.services.metrics.text()).body)?.[1] ?? 0);
  const hitsBefore = await memoHits();
  for (let round = 0; round < 5; round++) {
    await list(onA, a);
    await list(onA, a);
    const made = await on(b, onB, 'agents.create', { name: `cluster ${round}` });
    assert.is(made.status, 200, JSON.stringify(made.body));
    const id = made.body.result.id as number;
    assert.ok((await list(onA, a)).some((x) => x.id === id), `round ${round}: created on B, not in A's next list`);
    assert.is((await on(b, onB, 'agents.update', { id, name: `cluster ${round} renamed` })).status, 200);
    assert.is((await list(onA, a)).find((x) => x.id === id)?.name, `cluster ${round} renamed`);
  }
  assert.ok((await memoHits()) > hitsBefore, 'pages were answered from the memo, at the version read from the cluster');
  for (const tag of CLUSTER_TAGS) {
    const { master } = await pair.cluster.shardOf(keySlot(tag));
    assert.match((await pair.cluster.cli(master.port, 'get', `${tag}version:agents`)).trim(), /^\d+$/, `${tag}version:agents`);
  }
});

test.run();
