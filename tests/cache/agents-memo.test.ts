// agents.list answers a page from a per-process memo while the agents' version (the change-log
// position of their last change, read in the validated call's one cache round trip) is the one the
// page was read at (server/stores/agentPages.ts). PostgreSQL stays the truth: a change answered through
// the API is in the very next list, on this instance and on another sharing the cache; SQL typed by
// hand is in it within the change log's poll bound; an emptied or restarted Redis and a missing or
// corrupt version key never serve an old page. And the memo is really used (its counter moves).
// Real mode: a second instance on the shared stores, and a third on the shared PostgreSQL with a
// throwaway Redis (flushed and restarted here); embedded: the one instance, its version key removed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createClient } from 'redis';
import { startTestTether, realStores, type TestTether } from '../support/tether.ts';
import { loggedIn, sqlByHand } from '../support/fixtures.ts';
import { testIn } from '../support/modes.ts';
import { startThrowawayRedis, type ThrowawayRedis } from '../support/throwaway.ts';
import { agentsVersionKey } from '../../server/cache/stateCache.ts';
import type { Sql } from '../../server/stores/database.ts';

const ENV = { AGENTS_PER_USER_LIMIT: '0' };
let t: TestTether;
let b: TestTether | undefined;
let psql: Sql;
let closePsql = async () => {};
const delays: number[] = [];

test.before(async () => {
  t = await startTestTether(ENV);
  if (realStores) b = await startTestTether(ENV);
  ({ sql: psql, close: closePsql } = sqlByHand(t));
});
test.after(async () => {
  await Promise.allSettled([t?.close(), b?.close()]);
  await closePsql();
  if (delays.length) console.log(`[agents-memo] SQL by hand: delay until listed (ms): ${delays.map((d) => Math.round(d)).join(', ')}`);
});

type Session = Awaited<ReturnType<typeof loggedIn>>;
interface Agent {
  id: number;
  name: string;
  is_active: boolean;
}

/** The agents after `after`, every page walked (other test files may add agents to the shared table). */
async function listed(s: Session, after: number): Promise<Agent[]> {
  const all: Agent[] = [];
  for (let cursor = after, pages = 0; pages < 500; pages++) {
    const res = await s.call('agents.list', { limit: 100, after: cursor });
    assert.is(res.status, 200, res.text);
    all.push(...res.body.result.items);
    if (res.body.result.next === null) return all;
    cursor = res.body.result.next;
  }
  throw new Error('more than 500 pages');
}
const byId = (agents: Agent[], id: number) => agents.find((a) => a.id === id);

const maxId = async () => (await psql<{ n: number }[]>`select coalesce(max(id), 0)::float8 as n from agents`)[0].n;

/** tether_agents_page_memo_total by result, as /metrics exports it. */
async function memo(on: TestTether): Promise<Record<string, number>> {
  const text = (await on.services.metrics.text()).body;
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^tether_agents_page_memo_total\{result="(\w+)"\} (\d+)/gm)) out[m[1]] = Number(m[2]);
  return out;
}

async function create(s: Session, name: string): Promise<number> {
  const res = await s.call('agents.create', { name });
  assert.is(res.status, 200, res.text);
  return res.body.result.id;
}

/** Polls `check` every 50 ms until true, at most 15 s (the change log's poll is 1 s; the bound is generous). */
async function within(what: string, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  for (const deadline = Date.now() + 15_000; !(await check()); await new Promise((r) => setTimeout(r, 50))) {
    assert.ok(Date.now() < deadline, `not within 15 s: ${what}`);
  }
  return performance.now() - started;
}

test('the memo counter is exported at 0 for every result, and a page listed twice with no change between is a hit', async () => {
  const fresh = await memo(t);
  assert.equal(Object.keys(fresh).sort(), ['bypass', 'hit', 'miss']);
  const s = await loggedIn(t);
  const after = await maxId();
  const before = await memo(t);
  // Other test files may change agents on the shared database between two lists (a new version, a
  // miss): listed again until one is answered from the memo.
  await within('a memo hit', async () => {
    await listed(s, after);
    return (await memo(t)).hit > before.hit;
  });
  const now = await memo(t);
  assert.ok(now.miss > before.miss, 'the first list read PostgreSQL and kept the page');
});

test('creates, updates and deactivations through the API are in the very next list: 20 rounds of creates and lists in parallel', async () => {
  const s = await loggedIn(t);
  const hitsBefore = (await memo(t)).hit;
  for (let round = 0; round < 20; round++) {
    const after = await maxId();
    // Memoised first: the lists below would be answered from it if a change did not move the version.
    await listed(s, after);
    await listed(s, after);
    const [made] = await Promise.all([
      Promise.all([0, 1, 2].map((i) => create(s, `memo ${round}.${i}`))),
      ...[0, 1, 2].map(() => listed(s, after)),
    ]);
    const seen = await listed(s, after);
    for (const id of made) assert.ok(byId(seen, id), `round ${round}: agent ${id} created and answered, not listed`);

    const [renamed, gone] = [made[0], made[1]];
    await Promise.all([
      s.call('agents.update', { id: renamed, name: `renamed ${round}` }),
      s.call('agents.deactivate', { id: gone }),
      listed(s, after),
    ]).then((answers) => answers.slice(0, 2).forEach((res) => assert.is((res as { status: number }).status, 200)));
    const next = await listed(s, after);
    assert.is(byId(next, renamed)?.name, `renamed ${round}`, `round ${round}: the update`);
    assert.not.ok(byId(next, gone), `round ${round}: the deactivation`);
    assert.ok(byId(next, made[2]));
  }
  assert.ok((await memo(t)).hit > hitsBefore, 'the memo answered some of these lists');
});

testIn(test, 'real', 'two instances on one PostgreSQL and Redis: a change answered on B is in A\'s very next list (A had the page memoised)', async () => {
  const onA = await loggedIn(t);
  const onB = await loggedIn(b!);
  for (let round = 0; round < 20; round++) {
    const after = await maxId();
    await listed(onA, after);
    await listed(onA, after);
    const id = await create(onB, `from B ${round}`);
    assert.ok(byId(await listed(onA, after), id), `round ${round}: created on B, not listed on A`);
    assert.is((await onB.call('agents.update', { id, name: `B renamed ${round}` })).status, 200);
    assert.is(byId(await listed(onA, after), id)?.name, `B renamed ${round}`);
    assert.is((await onB.call('agents.deactivate', { id })).status, 200);
    assert.not.ok(byId(await listed(onA, after), id), `round ${round}: deactivated on B, still listed on A`);
  }
});

test('an agent changed by SQL typed by hand is listed as changed within the poll bound, on every instance', async () => {
  const instances = b ? [t, b] : [t];
  const sessions = await Promise.all(instances.map((i) => loggedIn(i)));
  const id = await create(sessions[0], 'typed by hand');
  for (let round = 0; round < 3; round++) {
    for (const s of sessions) {
      await listed(s, id - 1);
      await listed(s, id - 1);
    }
    const name = `psql ${round}`;
    await psql`update agents set name = ${name} where id = ${id}`;
    for (const s of sessions) delays.push(await within(`the name typed by hand (round ${round})`, async () => byId(await listed(s, id - 1), id)?.name === name));
  }
  await psql`update agents set is_active = false where id = ${id}`;
  for (const s of sessions) await within('the deactivation typed by hand', async () => !byId(await listed(s, id - 1), id));
  await psql`insert into agents (name) values ('inserted by hand')`;
  const [{ inserted }] = await psql<{ inserted: number }[]>`select max(id)::float8 as inserted from agents where name = 'inserted by hand'`;
  for (const s of sessions) await within('the insert typed by hand', async () => Boolean(byId(await listed(s, id - 1), inserted)));
});

testIn(test, 'embedded', 'one transaction changing many agents appends one change-log row, at its commit', async () => {
  const [{ before }] = await psql<{ before: number }[]>`select coalesce(max(pos), 0)::float8 as before from cache_changes`;
  await psql.begin(async (tx) => {
    await tx`insert into agents (name) select 'bulk ' || g from generate_series(1, 50) g`;
    await tx`update agents set description = 'changed' where name like 'bulk %'`;
  });
  const rows = await psql<{ kind: string }[]>`select kind from cache_changes where pos > ${before} order by pos`;
  assert.equal(rows.map((r) => r.kind), ['agents']);
  // A rolled-back change logs nothing.
  await psql.begin(async (tx) => {
    await tx`insert into agents (name) values ('rolled back')`;
    throw new Error('undo');
  }).catch(() => {});
  assert.is((await psql<{ n: number }[]>`select count(*)::int as n from cache_changes where pos > ${before}`)[0].n, 1);
});

test('a missing or corrupt version key: the call reads PostgreSQL (bypass), the key is filled again, and no old page is served', async () => {
  const s = await loggedIn(t);
  const id = await create(s, 'version key');
  await listed(s, id - 1);
  for (const bad of [null, 'garbage']) {
    if (bad === null) await t.services.cache.del(agentsVersionKey);
    else await t.services.cache.set(agentsVersionKey, bad, 60);
    const before = await memo(t);
    assert.ok(byId(await listed(s, id - 1), id));
    assert.ok((await memo(t)).bypass > before.bypass, `${bad ?? 'missing'}: answered from PostgreSQL`);
    // Filled (or mended) from the cache's own position, then used again.
    await within('the version key filled again', async () => /^\d+$/.test((await t.services.cache.get(agentsVersionKey)) ?? ''));
    await listed(s, id - 1);
    const name = `after ${bad ?? 'missing'}`;
    assert.is((await s.call('agents.update', { id, name })).status, 200);
    assert.is(byId(await listed(s, id - 1), id)?.name, name);
  }
});

testIn(test, 'real', 'Redis flushed, then restarted empty: every list after a change answered is right', async () => {
  let redis: ThrowawayRedis | undefined;
  let r: TestTether | undefined;
  const direct = () => createClient({ url: redis!.url }).on('error', () => {});
  try {
    redis = await startThrowawayRedis();
    r = await startTestTether({ ...ENV, REDIS_URL: redis.url });
    const s = await loggedIn(r);
    const id = await create(s, 'flushed');
    for (const [round, empty] of [
      ['flush', async () => {
        const c = await direct().connect();
        await c.flushDb();
        await c.close();
      }],
      ['restart', () => redis!.restart()],
    ] as const) {
      await listed(s, id - 1);
      await listed(s, id - 1);
      await empty();
      const name = `after ${round}`;
      // The session is restored from PostgreSQL; the change is applied to the emptied cache before it is answered.
      await within(`the update answered after the ${round}`, async () => (await s.call('agents.update', { id, name })).status === 200);
      assert.is(byId(await listed(s, id - 1), id)?.name, name, round);
      await listed(s, id - 1);
      // And SQL typed by hand after the emptying, within the poll bound.
      await psql`update agents set name = ${name + ' by hand'} where id = ${id}`;
      await within(`the name typed by hand after the ${round}`, async () => byId(await listed(s, id - 1), id)?.name === `${name} by hand`);
    }
  } finally {
    await r?.close();
    await redis?.stop();
  }
});

test.run();
