// agents.list pages by keyset (pass `next` back as `after`) and counts nothing unless asked
// (`with_total`: exact up to 10,000, then the planner's estimate, said to be one); agents.create stops
// at AGENTS_PER_USER_LIMIT with AGENT_LIMIT_REACHED, also when a user's creates race each other.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from './support/tether.ts';
import { loggedIn } from './support/fixtures.ts';

const LIMIT = 3;
let t: TestTether;
let s: Awaited<ReturnType<typeof loggedIn>>;
test.before(async () => {
  t = await startTestTether({ AGENTS_PER_USER_LIMIT: String(LIMIT) });
  s = await loggedIn(t);
});
test.after(async () => {
  await t.close();
});

const ids = (res: { body: any }) => (res.body.result.items as Array<{ id: number }>).map((a) => a.id);

test('agents.list: `next` passed back as `after` walks every active agent once, in id order, and ends with next null', async () => {
  const sql = t.services.db.sql;
  const [{ start }] = await sql<{ start: number }[]>`select coalesce(max(id), 0)::int as start from agents`;
  await sql`insert into agents (name, is_active) select 'page ' || g, g % 4 <> 0 from generate_series(1, 23) g`;
  const expected = (await sql<{ id: number }[]>`select id::int from agents where is_active and id > ${start} order by id`).map((r) => r.id);
  assert.ok(expected.length >= 17);

  const seen: number[] = [];
  let after = start;
  for (let pages = 0; pages < 50; pages++) {
    const res = await s.call('agents.list', { limit: 5, after });
    assert.is(res.status, 200, res.text);
    const r = res.body.result;
    assert.is(r.limit, 5);
    assert.not.ok('total' in r, 'no total unless with_total');
    assert.ok(r.items.length <= 5);
    assert.ok(r.items.every((a: { is_active: boolean }) => a.is_active), 'inactive agents are not listed by default');
    seen.push(...ids(res));
    if (r.next === null) break;
    assert.is(r.next, r.items.at(-1).id, 'next is the last id of the page');
    after = r.next;
  }
  // Other test files may add agents to a shared table meanwhile: ours are all there, once, in order.
  const ours = seen.filter((id) => expected.includes(id));
  assert.equal(ours, expected);
  assert.equal(seen, [...seen].sort((a, b) => a - b));
  assert.is(new Set(seen).size, seen.length);

  // include_inactive pages through the inactive ones too; the Odoo path answers the same shape.
  const all = await t.odoo('agents/list', { session_id: s.sessionId, limit: 100, after: start, include_inactive: true }, s.headers);
  assert.is(all.status, 200, all.text);
  assert.ok(ids(all).filter((id) => id <= start + 23).length >= 23);
  // offset still works after the cursor (compatibility): it skips within the keyset.
  const skipped = await s.call('agents.list', { limit: 2, after: start, offset: 2 });
  assert.equal(ids(skipped), expected.slice(2, 4));
});

test('agents.list answers each agent as agents.get does: times as toISOString writes them, milliseconds truncated, whatever the fraction', async () => {
  const sql = t.services.db.sql;
  const [{ start }] = await sql<{ start: number }[]>`select coalesce(max(id), 0)::int as start from agents`;
  const times = ['2026-03-01 10:20:30+00', '2026-03-01 10:20:30.5+00', '2026-03-01 10:20:30.12+00', '2026-03-01 10:20:30.123+00', '2026-03-01 10:20:30.999999+00', '2026-03-01 23:59:59.000001+00', '1999-12-31 23:59:59.9994+00'];
  for (const [i, at] of times.entries()) {
    await sql`insert into agents (name, created_at, updated_at) values (${'times ' + i}, ${at}::timestamptz, ${at}::timestamptz + interval '1 hour 0.0005 seconds')`;
  }
  const listed = await s.call('agents.list', { limit: 100, after: start });
  assert.is(listed.status, 200, listed.text);
  const ours = (listed.body.result.items as Array<{ id: number; name: string; created_at: string; updated_at: string }>).filter((a) => a.name.startsWith('times '));
  assert.is(ours.length, times.length);
  for (const agent of ours) {
    const got = await s.call('agents.get', { id: agent.id });
    assert.equal(agent, got.body.result);
  }
  assert.is(ours[1].created_at, '2026-03-01T10:20:30.500Z');
  assert.is(ours[4].created_at, '2026-03-01T10:20:30.999Z');
  assert.is(ours[6].updated_at, '2000-01-01T00:59:59.999Z');
});

test('agents.list: after must be a non-negative integer; with_total a boolean (-32602 naming the field)', async () => {
  for (const [params, field] of [
    [{ after: -1 }, 'after'],
    [{ after: '5' }, 'after'],
    [{ after: 1.5 }, 'after'],
    [{ with_total: 'yes' }, 'with_total'],
  ] as const) {
    const res = await s.call('agents.list', params);
    assert.is(res.body?.error?.code, -32602, res.text);
    assert.is(res.body.error.data.field, field, res.text);
  }
});

test('agents.list with_total: exact (total_is_estimate false) up to 10,000 agents, the estimate beyond, said to be one', async () => {
  const sql = t.services.db.sql;
  const count = async () => (await sql<{ n: number }[]>`select count(*)::int as n from agents where is_active`)[0].n;
  const small = await s.call('agents.list', { limit: 1, with_total: true });
  if ((await count()) <= 10_000) {
    assert.is(small.body.result.total_is_estimate, false, small.text);
    assert.ok(Number.isInteger(small.body.result.total));
  }
  // Past 10,000: a row per agent would be read to count them; the answer is the estimate instead.
  const have = await count();
  if (have <= 10_100) await sql`insert into agents (name) select 'bulk ' || g from generate_series(1, ${10_100 - have + 50}) g`;
  await sql`analyze agents`;
  const large = await s.call('agents.list', { limit: 1, with_total: true });
  assert.is(large.status, 200, large.text);
  assert.is(large.body.result.total_is_estimate, true, large.text);
  const actual = await count();
  assert.ok(large.body.result.total > 10_000, large.text);
  assert.ok(Math.abs(large.body.result.total - actual) <= actual * 0.2, `estimate ${large.body.result.total} near ${actual}`);
  const withInactive = await s.call('agents.list', { limit: 1, with_total: true, include_inactive: true });
  assert.is(withInactive.body.result.total_is_estimate, true, withInactive.text);
  // The page itself is unchanged by with_total.
  assert.is(large.body.result.items.length, 1);
});

test(`agents.create: the ${LIMIT + 1}th agent of a user is AGENT_LIMIT_REACHED (403 on /api/v1), no row written; a deactivated agent keeps its slot`, async () => {
  const u = await loggedIn(t);
  const made: number[] = [];
  for (let i = 0; i < LIMIT; i++) {
    const res = await u.call('agents.create', { name: `mine ${i}` });
    assert.is(res.status, 200, res.text);
    made.push(res.body.result.id);
  }
  const refused = await u.call('agents.create', { name: 'one too many' });
  assert.is(refused.body.error.code, -32003, refused.text);
  assert.is(refused.body.error.message, 'Agent limit reached');
  assert.is(refused.body.error.status, 403);
  assert.is(refused.body.error.data.error_code, 'AGENT_LIMIT_REACHED');
  assert.is(refused.body.error.data.limit, LIMIT);
  assert.match(refused.body.error.data.detail, 'AGENTS_PER_USER_LIMIT');
  const odoo = await t.odoo('agents/create', { session_id: u.sessionId, name: 'still too many' }, u.headers);
  assert.is(odoo.status, 403, odoo.text);
  assert.is(odoo.body.error.data.error_code, 'AGENT_LIMIT_REACHED');
  assert.ok((await u.call('agents.deactivate', { id: made[0] })).body.result, 'the creator deactivates one');
  assert.is((await u.call('agents.create', { name: 'after a deactivation' })).body.error?.data?.error_code, 'AGENT_LIMIT_REACHED');
  const [{ n }] = await t.services.db.sql<{ n: number }[]>`select count(*)::int as n from agents where created_by = ${u.user.id}`;
  assert.is(n, LIMIT);
  assert.ok(t.logsMatching('[AGENT LIMIT]').length >= 1, 'a greppable log line');
  // Other users are not affected.
  assert.is((await s.call('agents.create', { name: 'someone else' })).status, 200);
});

test('agents.create racing itself (a batch and single calls at once, 20 rounds): exactly the limit is created each round', async () => {
  const u = await loggedIn(t);
  const sql = t.services.db.sql;
  for (let round = 0; round < 20; round++) {
    await sql`delete from agents where created_by = ${u.user.id}`;
    await sql`update users set agents_created = 0 where id = ${u.user.id}`;
    const batch = Array.from({ length: 4 }, (_, i) => ({ jsonrpc: '2.0', id: i + 1, method: 'agents.create', params: { session_id: u.sessionId, name: `batch ${round}.${i}` } }));
    const answers = await Promise.all([t.post('/jsonrpc', batch, u.headers), ...Array.from({ length: 4 }, (_, i) => u.call('agents.create', { name: `single ${round}.${i}` }))]);
    const bodies = [...(answers[0].body as any[]), ...answers.slice(1).map((a) => a.body)];
    assert.is(bodies.length, 8);
    const created = bodies.filter((b) => b.result).length;
    const refused = bodies.filter((b) => b.error?.data?.error_code === 'AGENT_LIMIT_REACHED').length;
    assert.is(created, LIMIT, `round ${round}: ${JSON.stringify(bodies.map((b) => b.error?.data?.error_code ?? 'ok'))}`);
    assert.is(refused, 8 - LIMIT);
    const [{ n, counted }] = await sql<{ n: number; counted: number }[]>`
      select (select count(*)::int from agents where created_by = ${u.user.id}) as n, (select agents_created from users where id = ${u.user.id}) as counted`;
    assert.is(n, LIMIT);
    assert.is(counted, LIMIT);
  }
});

test.run();
