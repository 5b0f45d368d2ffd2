// Failover on a real Redis Cluster (six throwaway redis-server --cluster-enabled, node timeout 1 s),
// two Tether instances on it and on one throwaway PostgreSQL, in every mode:
// - ends and privilege changes made just before a failover, which the promoted replica missed, are
//   refused after it on both instances. The miss is real, not simulated: the replica is frozen
//   (SIGSTOP) and its replication link cut on the master (CLIENT KILL TYPE replica) before the
//   changes, the master is SIGKILLed after them, and the replica, thawed, is promoted with the old
//   entries and its groups' old change-log positions. Those groups are behind; they answer nothing
//   until caught up from the log (PostgreSQL answers meanwhile), exactly as a restart from a snapshot.
// - a master SIGKILLed under load from both instances and its replica promoted by the cluster: calls
//   during the failover get 200 or 503, an ended session is never accepted, and no call sent after
//   the promotion completed fails.
// - the whole cluster down: PostgreSQL answers (/readyz "degraded"), a new instance starts degraded;
//   back up, the cache serves again on every instance.
// A redis-server without cluster support fails start: this file fails, it never skips.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loggedIn, revokeToken } from '../support/fixtures.ts';
import { cacheLookups, clusterEnv, placeOf, sessionWhere, startClusterPair, type ClusterPair } from '../support/clusterPair.ts';
import type { TopologyNode } from '../support/redisCluster.ts';
import { callAt, eventually, fmt, startLoad, tally } from '../faults/load.ts';
import { startTestTether, type TestTether } from '../support/tether.ts';

let pair: ClusterPair;
let a: TestTether;
let b: TestTether;

test.before(async () => {
  pair = await startClusterPair();
  ({ a, b } = pair);
});
test.after(() => pair?.close());

type Session = Awaited<ReturnType<typeof loggedIn>>;
const codeOf = (res: { body?: any }) => res.body?.error?.data?.error_code as string | undefined;
const on = (t: TestTether, s: { sessionId: string; headers: Record<string, string> }, method = 'me', params: Record<string, unknown> = {}) => callAt(t.url, method, { session_id: s.sessionId, ...params }, s.headers, 'failover');
const serves = (master: TopologyNode, slot: number) => master.slots.some(([from, to]) => from <= slot && slot <= to);

/** A master that still has a live replica (an earlier test may have used one up). */
async function shardWithReplica(): Promise<{ master: TopologyNode; replica: TopologyNode }> {
  const nodes = await pair.cluster.topology();
  for (const master of nodes.filter((n) => n.role === 'master' && !n.failed && n.slots.length)) {
    const replica = nodes.find((n) => n.role === 'replica' && n.masterId === master.id && !n.failed);
    if (replica) return { master, replica };
  }
  throw new Error('no master with a live replica left');
}

/** Until `replica` is a master serving slots and every live node says the cluster is ok; forced (TAKEOVER) if the cluster has not promoted it in 10 s. */
async function promoted(replica: TopologyNode): Promise<void> {
  const isMaster = async () => (await pair.cluster.topology(replica.port)).some((n) => n.id === replica.id && n.role === 'master' && n.slots.length > 0);
  if (!(await eventually(10_000, isMaster))) await pair.cluster.cli(replica.port, 'cluster', 'failover', 'takeover');
  assert.ok(await eventually(15_000, isMaster), `the replica on ${replica.port} promoted`);
  await pair.cluster.waitHealthy(20_000);
}

const readyz = async (t: TestTether) => {
  const res = await fetch(t.url + '/readyz');
  return { status: res.status, body: (await res.json()) as { status: string; cache: string } };
};

const EXPECTED = ['SESSION_REQUIRED', 'SESSION_REQUIRED', 'FORBIDDEN', 'TOKEN_REVOKED', 'SESSION_REQUIRED'];

test('ends and privilege changes the promoted replica missed are refused after the failover, on both instances', async () => {
  const { master, replica } = await shardWithReplica();
  const here = (options: Parameters<typeof loggedIn>[1] = {}) => sessionWhere(() => loggedIn(a, options), (p) => serves(master, p.slot));
  const admin = await loggedIn(a, { admin: true, scopes: ['admin'] });
  const ended = await here();
  const disabled = await here();
  const demoted = await here({ admin: true, scopes: ['admin'] });
  const revoked = await here();
  const reset = await here();
  const targets = [ended, disabled, demoted, revoked, reset];
  for (const x of [a, b]) for (const s of [admin, ...targets]) assert.is((await on(x, s)).status, 200, 'works before');
  for (const x of [a, b]) assert.ok((await on(x, demoted, 'admin.stats')).body?.result, 'admin before');
  await pair.cluster.waitHealthy(); // the replica has every entry so far

  // The replica stops hearing from its master: frozen, and its link cut on the master's side.
  const frozen = pair.cluster.node(replica.port);
  frozen.pause();
  try {
    assert.is((await pair.cluster.cli(master.port, 'client', 'kill', 'type', 'replica')).trim(), '1', 'the replica link cut');
    const call = (method: string, params: Record<string, unknown>) => on(a, admin, method, params);
    assert.is((await on(a, ended, 'users.logout')).body?.result?.logged_out, true, 'logout answered');
    assert.ok((await call('admin.users.disable', { user_id: disabled.user.id })).body?.result, 'disable answered');
    assert.ok((await call('admin.users.set_admin', { user_id: demoted.user.id, is_admin: false })).body?.result, 'set_admin answered');
    await revokeToken(a, revoked);
    assert.ok((await call('admin.users.reset_password', { user_id: reset.user.id, new_password: 'a-new-password-4-reset!' })).body?.result, 'reset answered');
    assert.ok((await pair.cluster.cli(master.port, 'get', placeOf(ended.sessionId).key)).startsWith('!'), 'the master has the end');
    await pair.cluster.node(master.port).kill();
  } finally {
    frozen.resume();
  }
  // The fault happened: the replica holds the entry as it was before the end.
  const old = await pair.cluster.readKey(replica.port, placeOf(ended.sessionId).key);
  assert.ok(old.startsWith('{'), `the replica missed the end: ${old}`);
  await promoted(replica);

  const refusedEverywhere = async () => {
    const seen: string[] = [];
    for (const x of [a, b]) {
      seen.push(`${codeOf(await on(x, ended))}`, `${codeOf(await on(x, disabled))}`, `${codeOf(await on(x, demoted, 'admin.stats'))}`, `${codeOf(await on(x, revoked))}`, `${codeOf(await on(x, reset))}`);
    }
    return seen;
  };
  for (let round = 0; round < 5; round++) assert.equal(await refusedEverywhere(), [...EXPECTED, ...EXPECTED], `after the failover, round ${round}`);
  // The promoted replica was caught up from the change log: the end is a tombstone there now.
  assert.ok(await eventually(10_000, async () => (await pair.cluster.cli(replica.port, 'get', placeOf(ended.sessionId).key)).startsWith('!')), 'caught up on the promoted replica');
  assert.ok(a.logsMatching('[CACHE BEHIND]').length + b.logsMatching('[CACHE BEHIND]').length + a.logsMatching('[CACHE CAUGHT UP]').length + b.logsMatching('[CACHE CAUGHT UP]').length >= 1, 'the missed writes are logged');
  for (const x of [a, b]) assert.ok((await on(x, admin)).body?.result, 'the admin session still works');
});

test('a master SIGKILLed under load on both instances: 200 or 503 during the failover, never a wrong answer, no failed call after the promotion', async () => {
  const { master, replica } = await shardWithReplica();
  const inShard = await Promise.all(Array.from({ length: 4 }, () => sessionWhere(() => loggedIn(b), (p) => serves(master, p.slot))));
  const elsewhere = await Promise.all(Array.from({ length: 4 }, () => loggedIn(a)));
  const valid = [...inShard, ...elsewhere];
  const gone = await sessionWhere(() => loggedIn(a), (p) => serves(master, p.slot));
  assert.is((await on(b, gone, 'users.logout')).body?.result?.logged_out, true);
  await pair.cluster.waitHealthy(); // the replica has the end
  const load = startLoad({ workers: 8, ms: 60_000, call: (i) => on(i % 2 ? b : a, valid[i % valid.length]) });
  const endedLoad = startLoad({ workers: 2, ms: 60_000, call: (i) => on(i % 2 ? b : a, gone) });
  let killedAt = 0;
  let promotedAt = 0;
  try {
    assert.ok(await eventually(30_000, () => load.outcomes.filter((o) => o.status === 200).length >= 20, 20));
    killedAt = Date.now();
    await pair.cluster.node(master.port).kill();
    await promoted(replica);
    promotedAt = Date.now();
    // Both instances find the new master (readiness pings every master), and calls keep coming.
    assert.ok(await eventually(20_000, async () => (await Promise.all([a, b].map(readyz))).every((r) => r.status === 200)), 'both ready again');
    const sent = load.outcomes.length;
    assert.ok(await eventually(30_000, () => load.outcomes.length >= sent + 100, 20));
  } finally {
    load.stop();
    endedLoad.stop();
  }
  const outcomes = await load.done;
  const endedOutcomes = await endedLoad.done;
  const during = outcomes.filter((o) => o.ended >= killedAt && o.started <= promotedAt);
  const after = outcomes.filter((o) => o.started > promotedAt);
  console.log(`[cluster-failover] master killed under load: during the failover ${fmt(tally(during))}; after the promotion ${fmt(tally(after))}; the ended session throughout: ${fmt(tally(endedOutcomes))}; promotion took ${promotedAt - killedAt} ms`);
  assert.ok(outcomes.every((o) => o.status === 200 || o.status === 503), `valid sessions: only 200 or 503: ${fmt(tally(outcomes))}`);
  assert.ok(after.length >= 100 && after.every((o) => o.status === 200), `after the promotion: ${fmt(tally(after))}`);
  assert.ok(endedOutcomes.length > 0 && endedOutcomes.every((o) => o.errorCode === 'SESSION_REQUIRED' || o.status === 503), `the ended session: ${fmt(tally(endedOutcomes))}`);
  // And the cache serves again (not PostgreSQL behind a failing cache).
  const before = await cacheLookups(a, b);
  for (const s of inShard) for (const x of [a, b]) assert.is((await on(x, s)).status, 200);
  const later = await cacheLookups(a, b);
  assert.is(later.hit - before.hit, inShard.length * 2, `answered from the cache: ${JSON.stringify({ before, later })}`);
});

test('the whole cluster down: PostgreSQL answers and /readyz says degraded, an instance starts degraded; back up, the cache serves again', async () => {
  const s = await loggedIn(a);
  const ended = await loggedIn(b);
  assert.is((await on(a, ended, 'users.logout')).body?.result?.logged_out, true);
  await Promise.all(pair.cluster.ports.map((p) => pair.cluster.node(p).kill()));
  for (const x of [a, b]) {
    assert.is((await on(x, s)).status, 200, 'a valid session is answered from PostgreSQL');
    assert.is(codeOf(await on(x, ended)), 'SESSION_REQUIRED');
    const ready = await readyz(x);
    assert.is(ready.status, 503);
    assert.is(ready.body.status, 'degraded', JSON.stringify(ready.body));
  }
  const later = await loggedIn(a); // a login without the cache works, and its end too
  assert.is((await on(b, later, 'users.logout')).body?.result?.logged_out, true);
  // A third instance started now: it starts (degraded, within a second of trying), and answers from PostgreSQL.
  const c = await startTestTether(clusterEnv(pair.pg, pair.cluster));
  try {
    assert.ok(c.logsMatching('Redis Cluster at REDIS_CLUSTER_NODES').some((l) => String(l.msg).includes('unreachable at start')), 'the degraded start is logged');
    assert.is((await readyz(c)).body.status, 'degraded');
    assert.is((await on(c, s)).status, 200);
    assert.is(codeOf(await on(c, later)), 'SESSION_REQUIRED');
    await Promise.all(pair.cluster.ports.map((p) => pair.cluster.node(p).start()));
    await pair.cluster.waitHealthy(30_000);
    assert.ok(await eventually(20_000, async () => (await Promise.all([a, b, c].map(readyz))).every((r) => r.status === 200 && r.body.status === 'ok')), 'ready again, the late starter too');
    assert.is((await on(c, s)).status, 200);
    assert.is(codeOf(await on(c, later)), 'SESSION_REQUIRED');
  } finally {
    await c.close();
  }
  for (let round = 0; round < 3; round++) {
    for (const x of [a, b]) {
      assert.is((await on(x, s)).status, 200);
      assert.is(codeOf(await on(x, ended)), 'SESSION_REQUIRED');
      assert.is(codeOf(await on(x, later)), 'SESSION_REQUIRED');
    }
  }
  const before = await cacheLookups(a, b);
  for (const x of [a, b]) assert.is((await on(x, s)).status, 200);
  const after = await cacheLookups(a, b);
  assert.is(after.hit - before.hit, 2, 'answered from the cache again');
});

test.run();
