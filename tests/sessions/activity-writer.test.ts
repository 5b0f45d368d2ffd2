// Keep-alives' last_activity writes (server/sessions/activityWriter.ts): batched into one statement,
// one session once per batch (its latest time), never moving last_activity back, and bounded while
// PostgreSQL is behind: at most pendingMax sessions wait, the rest are dropped and counted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { loggedIn } from '../support/fixtures.ts';
import { hashOf } from '../../server/sessions/sessionId.ts';
import { activityWriter } from '../../server/sessions/activityWriter.ts';

let t: TestTether;

test.before(async () => {
  t = await startTestTether({ SWEEP_INTERVAL: '0' });
});
test.after(async () => {
  await t?.close();
});

const lastActivity = async (sessionId: string) =>
  (await t.services.db.sql<{ last_activity: Date }[]>`select last_activity from api_sessions where session_hash = ${hashOf(sessionId)}`)[0].last_activity.getTime();

test('a batch writes each session its latest time, in one statement, and never moves last_activity back', async () => {
  const [a, b] = await Promise.all([loggedIn(t), loggedIn(t)]);
  const loginB = await lastActivity(b.sessionId);
  const now = Math.floor(Date.now() / 1000);
  const statements: number[] = [];
  const writer = activityWriter({
    write: async (hashes, seconds) => {
      statements.push(hashes.length);
      await t.services.sessionRows.touchMany(hashes, seconds);
    },
    log: t.services.log,
  });
  writer.touch(hashOf(a.sessionId), now + 5);
  writer.touch(hashOf(a.sessionId), now + 9);
  writer.touch(hashOf(a.sessionId), now + 7); // an earlier time than one waiting: the later one stays
  writer.touch(hashOf(b.sessionId), Math.floor(loginB / 1000) - 100); // before the row's own time
  assert.is(writer.pending(), 2, 'one entry per session');
  await writer.flush();
  assert.equal(statements, [2], 'both sessions in one statement');
  assert.is(await lastActivity(a.sessionId), (now + 9) * 1000);
  assert.is(await lastActivity(b.sessionId), loginB, 'an older time does not move last_activity back');
  assert.is(writer.counters.written, 2);
});

test('while a write is in flight, at most pendingMax sessions wait; the rest are dropped and counted, and what waited is written after', async () => {
  const [a, b, c] = await Promise.all([loggedIn(t), loggedIn(t), loggedIn(t)]);
  const now = Math.floor(Date.now() / 1000) + 60;
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const writes: string[][] = [];
  const writer = activityWriter({
    write: async (hashes, seconds) => {
      writes.push(hashes);
      if (writes.length === 1) await held; // PostgreSQL behind: the first batch does not finish
      await t.services.sessionRows.touchMany(hashes, seconds);
    },
    log: t.services.log,
    flushMs: 1,
    pendingMax: 2,
  });
  writer.touch(hashOf(a.sessionId), now);
  const first = writer.flush(); // a's batch, held
  for (let i = 0; i < 20 && writes.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.is(writes.length, 1, 'the first batch is in flight');
  // 2 sessions fit; 50 more keep-alives of other sessions are dropped; a session already waiting still updates its time.
  writer.touch(hashOf(b.sessionId), now);
  writer.touch(hashOf(c.sessionId), now);
  for (let i = 0; i < 50; i++) writer.touch(`dropped-${i}`.padEnd(64, '0'), now);
  writer.touch(hashOf(b.sessionId), now + 1);
  assert.is(writer.pending(), 2, 'the bound holds');
  assert.is(writer.counters.dropped, 50);
  release();
  await first;
  await writer.flush();
  assert.is(writer.pending(), 0);
  assert.is(await lastActivity(a.sessionId), now * 1000);
  assert.is(await lastActivity(b.sessionId), (now + 1) * 1000);
  assert.is(await lastActivity(c.sessionId), now * 1000);
  assert.is(writer.counters.written, 3);
});

test('a failed batch is logged and counted, and the writer goes on with the next', async () => {
  const s = await loggedIn(t);
  const now = Math.floor(Date.now() / 1000) + 120;
  let fail = true;
  const writer = activityWriter({
    write: async (hashes, seconds) => {
      if (fail) throw new Error('PostgreSQL unavailable');
      await t.services.sessionRows.touchMany(hashes, seconds);
    },
    log: t.services.log,
  });
  writer.touch(hashOf(s.sessionId), now);
  await writer.flush();
  assert.is(writer.counters.failed, 1);
  fail = false;
  writer.touch(hashOf(s.sessionId), now + 1);
  await writer.flush();
  assert.is(await lastActivity(s.sessionId), (now + 1) * 1000);
});

test.run();
