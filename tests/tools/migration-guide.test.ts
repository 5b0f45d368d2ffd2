// The README's "Coming from the Odoo API gateway": every ```sql block in it (the troubleshooting guide's
// queries rewritten for Tether) is run against the live database the test server uses, with psql's
// :'session_id' replaced by a real session id, and its answer checked against what the test set up.
// The UPDATE runs in a transaction that is rolled back (other test files share the database).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { loggedIn } from '../support/fixtures.ts';
import { hashOf } from '../../server/sessions/sessionId.ts';

const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

function guideQueries(): Map<string, string> {
  const start = README.indexOf('\n## Coming from the Odoo API gateway\n');
  assert.ok(start >= 0, 'the README has the migration guide');
  const end = README.indexOf('\n## ', start + 1);
  const section = README.slice(start, end === -1 ? undefined : end);
  const blocks = [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1].trim());
  const byTitle = new Map<string, string>();
  for (const block of blocks) {
    const title = /^-- (.+)$/m.exec(block)?.[1];
    assert.ok(title, `every query starts with a "-- title" line: ${block.slice(0, 80)}`);
    byTitle.set(title, block);
  }
  assert.is(byTitle.size, blocks.length, 'titles are unique');
  return byTitle;
}

const EXPECTED = [
  'Issue #1, Scenario C: find a session by its id',
  'Issue #3, Step 2: the session\'s activity',
  'Issue #5, Scenario A: is its security token missing?',
  'Issue #5, Scenario B: active sessions without a security token',
  'Issue #5, Scenario B: end them',
  'Issue #8: was it logged out?',
  'Metrics: active sessions count',
  'Metrics: average session duration (every ended session, not only logouts)',
  'Metrics: session validation failures (from the audit log)',
];

let t: TestTether;
test.before(async () => {
  t = await startTestTether();
});
test.after(async () => {
  await t?.close();
});

/** psql's :'session_id' as a SQL literal (session ids are base64url: no quote to escape, checked anyway). */
const withSessionId = (query: string, sessionId: string) => {
  assert.match(sessionId, /^[A-Za-z0-9_-]+$/);
  return query.replaceAll(":'session_id'", `'${sessionId}'`);
};

const ROLLBACK = new Error('rollback');

/** Runs one README query in a transaction that is always rolled back; answers its rows and count. */
async function run(query: string): Promise<{ rows: Record<string, unknown>[]; count: number }> {
  let answer: { rows: Record<string, unknown>[]; count: number } | undefined;
  await t.services.db.sql
    .begin(async (tx) => {
      const result = await tx.unsafe(query);
      answer = { rows: [...result] as Record<string, unknown>[], count: result.count };
      throw ROLLBACK;
    })
    .catch((err: unknown) => {
      if (err !== ROLLBACK) throw err;
    });
  return answer!;
}

test('the migration guide has each of the troubleshooting guide\'s queries, and no other', () => {
  assert.equal([...guideQueries().keys()], EXPECTED);
});

test('every query of the migration guide runs against a live database and answers what the guide asks', async () => {
  const q = guideQueries();
  const s = await loggedIn(t);
  // A session whose row lost its security token (the guide's Issue #5), and a 401 in the audit log.
  const tokenless = await loggedIn(t);
  await t.services.db.sql`update api_sessions set security_token = null where session_hash = ${hashOf(tokenless.sessionId)}`;
  const refused = await t.rpc('me', {}, s.headers);
  assert.is(refused.body.error.status, 401);
  await t.services.audit.flush();

  const found = await run(withSessionId(q.get(EXPECTED[0])!, s.sessionId));
  assert.is(found.rows.length, 1, 'the session, found by the hash of its id');
  assert.is(Number(found.rows[0].user_id), s.user.id);
  assert.is(found.rows[0].session_hash, hashOf(s.sessionId));
  // Another id: the last character changed (never to itself: 1 id in 64 ends in any given character).
  const another = s.sessionId.slice(0, -1) + (s.sessionId.endsWith('x') ? 'y' : 'x');
  assert.is.not(another, s.sessionId);
  assert.is((await run(withSessionId(q.get(EXPECTED[0])!, another))).rows.length, 0, 'another id finds nothing');

  const activity = await run(withSessionId(q.get(EXPECTED[1])!, s.sessionId));
  assert.is(activity.rows.length, 1);
  assert.is(activity.rows[0].is_active, true);
  assert.is(activity.rows[0].end_reason, null);
  assert.is(activity.rows[0].logout_at, null);
  const since = Number(activity.rows[0].seconds_since_activity);
  assert.ok(since >= 0 && since < 600, `seconds_since_activity ${since}`);

  const missing = await run(withSessionId(q.get(EXPECTED[2])!, s.sessionId));
  assert.is(missing.rows[0].missing_token, false);
  assert.is((await run(withSessionId(q.get(EXPECTED[2])!, tokenless.sessionId))).rows[0].missing_token, true);

  const tokenlessCount = await run(q.get(EXPECTED[3])!);
  assert.ok(Number(tokenlessCount.rows[0].count) >= 1, 'the tokenless session is counted');
  const ended = await run(q.get(EXPECTED[4])!);
  assert.ok(ended.count >= 1, `the UPDATE ends it (rolled back here): ${ended.count} rows`);

  const active = await run(q.get(EXPECTED[6])!);
  assert.ok(Number(active.rows[0].count) >= 2, 'both sessions are active');
  const failures = await run(q.get(EXPECTED[8])!);
  assert.ok(Number(failures.rows[0].count) >= 1, 'the refused call is counted');

  // Logged out: Issue #8's query says so, and the average duration has an ended session to count.
  const out = await s.call('users.logout');
  assert.is(out.body.result.logged_out, true);
  const loggedOut = await run(withSessionId(q.get(EXPECTED[5])!, s.sessionId));
  assert.is(loggedOut.rows.length, 1);
  assert.is(loggedOut.rows[0].is_active, false);
  assert.is(loggedOut.rows[0].end_reason, 'logout');
  assert.ok(loggedOut.rows[0].logout_at instanceof Date, 'logout_at is set');
  assert.ok(loggedOut.rows[0].ended_at instanceof Date, 'ended_at is set');
  const average = await run(q.get(EXPECTED[7])!);
  const seconds = Number(average.rows[0].avg_duration_seconds);
  assert.ok(Number.isFinite(seconds) && seconds >= 0, `avg_duration_seconds ${average.rows[0].avg_duration_seconds}`);

  // The rolled-back UPDATE left the tokenless session as it was.
  const [row] = await t.services.db.sql<{ is_active: boolean }[]>`select is_active from api_sessions where session_hash = ${hashOf(tokenless.sessionId)}`;
  assert.is(row.is_active, true);
});

test.run();
