// `tether sessions doctor <session_id>` as a real child process (node bin/tether.js) on the stores a
// server started with startTestTether used, one scenario per troubleshooting guide issue. For each,
// the server is asked first (the same session, the same headers), then the doctor must name the same
// catalogue message and error_code, the guide's issue number, exit 1 (0 when valid), and its text
// output must mark the failing step FAIL and quote the issue number.
// Embedded mode: PGlite is single-process, so the servers (each on a DATA_DIR this file owns) are
// closed before the CLI runs; the CLI's memory cache is its own, so it sees PostgreSQL's view.
// Real mode: the same, on the shared PostgreSQL and Redis (no sweeper here: it would end others' sessions).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realStores, startTestTether, TEST_JWT_SECRET, type TestTether } from '../support/tether.ts';
import { runCli } from '../support/child.ts';
import { testIn } from '../support/modes.ts';
import { LANG, UA, loggedIn } from '../support/fixtures.ts';
import { cacheKeyOf, hashOf } from '../../server/sessions/sessionId.ts';
import { openDatabase } from '../../server/stores/database.ts';
import { createClient } from 'redis';
import { secondOf, waitOutTtl } from '../support/waits.ts';

const mainDir = mkdtempSync(join(tmpdir(), 'tether-doctor-'));
const idleDir = mkdtempSync(join(tmpdir(), 'tether-doctor-idle-'));

/** The configuration both the server and the CLI read (the CLI must judge with the server's settings). */
const MAIN_ENV = { DATA_DIR: mainDir, SWEEP_INTERVAL: '0', TRUSTED_PROXIES: '127.0.0.1' };
const IDLE_ENV = { DATA_DIR: idleDir, SWEEP_INTERVAL: '0', SESSION_IDLE_TIMEOUT: '2' };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, LOG_LEVEL: 'warn', NO_COLOR: '1' };
  if (realStores) childEnv.JWT_SECRET = TEST_JWT_SECRET;
  else for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET']) delete childEnv[name];
  // 120 s: an embedded CLI run (PGlite start, migrations check) took over 30 s on a loaded 2-core machine.
  return runCli(args, childEnv, '', 120_000);
}

/**
 * Runs `work` for every scenario. Embedded: one lane per DATA_DIR (a PGlite directory is opened by
 * one process at a time), the lanes side by side. Real stores: a few at a time.
 */
async function forEach(list: Scenario[], work: (sc: Scenario) => Promise<void>): Promise<void> {
  const lanes = new Map<string, Scenario[]>();
  list.forEach((sc, i) => {
    const lane = realStores ? String(i % 4) : sc.env.DATA_DIR;
    lanes.set(lane, [...(lanes.get(lane) ?? []), sc]);
  });
  await Promise.all(
    [...lanes.values()].map(async (lane) => {
      for (const sc of lane) await work(sc);
    }),
  );
}

const show = (r: Run) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

interface Scenario {
  name: string;
  sessionId: string;
  flags: string[];
  env: Record<string, string>;
  /** What the server answered for the same session and headers (absent: valid). */
  server?: { message: string; error_code: string };
  issue?: number;
  failingStep?: string;
}

const scenarios: Scenario[] = [];
let main: TestTether | undefined;
let idle: TestTether | undefined;

/** One call the way the failing client made it; answers the catalogue error (or none). */
function refusal(res: { body: any; text: string }, errorCode: string): { message: string; error_code: string } {
  const error = res.body?.error;
  assert.ok(error, `the server refuses: ${res.text}`);
  assert.is(error.data.error_code, errorCode, res.text);
  return { message: error.message, error_code: error.data.error_code };
}

// ---- the doctor only reads (README): the sessions' rows, their audit rows and (real mode) their cache keys

type Sql = TestTether['services']['db']['sql'];
const rowsBefore = new Map<string, string>();
let cacheBefore: Record<string, { value: string | null; ttl: number }> = {};

/** The scenarios' api_sessions rows (every column) and how many audit rows name them, as one string. */
async function rowSnapshot(sql: Sql): Promise<string> {
  const hashes = scenarios.map((sc) => hashOf(sc.sessionId));
  const rows = await sql`select * from api_sessions where session_hash = any(${hashes}) order by id`;
  const [{ audit }] = await sql`select count(*)::int as audit from api_access_log where session_hash_prefix = any(${hashes.map((h) => h.slice(0, 16))})`;
  return JSON.stringify({ rows, audit });
}

/** Real mode: each scenario's cache entry and TTL, read straight from Redis. */
async function cacheSnapshot(): Promise<Record<string, { value: string | null; ttl: number }>> {
  const redis = createClient({ url: process.env.REDIS_URL });
  await redis.connect();
  try {
    const out: Record<string, { value: string | null; ttl: number }> = {};
    for (const sc of scenarios) {
      const key = cacheKeyOf(hashOf(sc.sessionId));
      out[sc.name] = { value: await redis.get(key), ttl: await redis.ttl(key) };
    }
    return out;
  } finally {
    await redis.destroy();
  }
}

test.before(async () => {
  [main, idle] = await Promise.all([startTestTether(MAIN_ENV), startTestTether(IDLE_ENV)]);
  const t = main;

  // #4: a truncated id. It begins with '-x' (ids issued before they began with a letter or digit did,
  // one in 64): the command line must take even a damaged id for the session id, not an option. The
  // prefix is fixed, not random, so every run tries the same thing.
  {
    const s = await loggedIn(t);
    const truncated = `-x${s.sessionId.slice(2, 50)}`;
    const server = refusal(await s.call('me', { session_id: truncated }), 'SESSION_ID_FORMAT');
    scenarios.push({ name: 'format (truncated)', sessionId: truncated, flags: [], env: MAIN_ENV, server, issue: 4, failingStep: 'format' });
  }
  // #1: well-formed, never issued. It begins with '--', as one old id in 4,096 did (base64url): the
  // command line must still take it for the session id, not an unknown option. Always '--', so the
  // hardest case is tried on every run.
  {
    const s = await loggedIn(t);
    const unknown = `--${randomBytes(60).toString('base64url').slice(2)}`;
    const server = refusal(await s.call('me', { session_id: unknown }), 'SESSION_REQUIRED');
    scenarios.push({ name: 'unknown id', sessionId: unknown, flags: [], env: MAIN_ENV, server, issue: 1, failingStep: 'database row' });
  }
  // #8: logged out.
  {
    const s = await loggedIn(t);
    assert.ok((await s.call('users.logout')).body.result);
    const server = refusal(await s.call('me'), 'SESSION_REQUIRED');
    scenarios.push({ name: 'logged out', sessionId: s.sessionId, flags: [], env: MAIN_ENV, server, issue: 8, failingStep: 'database row' });
  }
  // #5: the row lost its security token and the cache key is gone.
  {
    const s = await loggedIn(t);
    await t.services.db.sql`update api_sessions set security_token = null where session_hash = ${hashOf(s.sessionId)}`;
    await t.services.cache.del(cacheKeyOf(hashOf(s.sessionId)));
    const server = refusal(await s.call('me'), 'SESSION_TOKEN_REQUIRED');
    scenarios.push({ name: 'security token removed', sessionId: s.sessionId, flags: [], env: MAIN_ENV, server, issue: 5, failingStep: 'security token' });
  }
  // #2 / #6 / #7: one fingerprint component differs from the login's.
  {
    const s = await loggedIn(t);
    const server = refusal(await s.call('me', {}, { 'user-agent': 'PostmanRuntime/7.36.0' }), 'SESSION_INVALID');
    scenarios.push({ name: 'user agent differs', sessionId: s.sessionId, flags: ['--ua', 'PostmanRuntime/7.36.0'], env: MAIN_ENV, server, issue: 2, failingStep: 'user agent' });
  }
  {
    const s = await loggedIn(t);
    // 127.0.0.1 is a trusted proxy here: X-Forwarded-For names the client, as behind a load balancer.
    const server = refusal(await s.call('me', {}, { 'x-forwarded-for': '203.0.113.77' }), 'SESSION_INVALID');
    scenarios.push({ name: 'ip differs', sessionId: s.sessionId, flags: ['--ip', '203.0.113.77'], env: MAIN_ENV, server, issue: 6, failingStep: 'ip' });
  }
  {
    const s = await loggedIn(t);
    const server = refusal(await s.call('me', {}, { 'accept-language': 'fr-FR' }), 'SESSION_INVALID');
    scenarios.push({ name: 'language differs', sessionId: s.sessionId, flags: ['--lang', 'fr-FR'], env: MAIN_ENV, server, issue: 7, failingStep: 'language' });
  }
  // Valid: the same headers as at login.
  {
    const s = await loggedIn(t);
    assert.ok((await s.call('me')).body.result);
    scenarios.push({ name: 'valid', sessionId: s.sessionId, flags: ['--ua', UA, '--ip', '127.0.0.1', '--lang', LANG], env: MAIN_ENV });
  }

  // #3: idle past SESSION_IDLE_TIMEOUT=2. One session the server was asked about (it ends the row
  // "idle"), one nobody called since (the row is still active; its last_activity says it all).
  {
    const asked = await loggedIn(idle);
    const silent = await loggedIn(idle);
    const loggedInAt = Date.now();
    // The idle timeout (2 s) must run out for real: past the logins' second + 2, and both cache keys
    // gone by their own TTL (= the idle timeout).
    const keys = [cacheKeyOf(hashOf(asked.sessionId)), cacheKeyOf(hashOf(silent.sessionId))];
    await waitOutTtl('the idle timeout', secondOf(loggedInAt) + 2, async () => (await Promise.all(keys.map((k) => idle!.services.cache.get(k)))).every((v) => v === null));
    const server = refusal(await asked.call('me'), 'SESSION_EXPIRED');
    scenarios.push({ name: 'idle expired (asked)', sessionId: asked.sessionId, flags: [], env: IDLE_ENV, server, issue: 3, failingStep: 'database row' });
    scenarios.push({ name: 'idle expired (silent)', sessionId: silent.sessionId, flags: [], env: IDLE_ENV, server, issue: 3, failingStep: 'idle timeout' });
  }

  // What the stores hold before any doctor runs: the last test checks the doctor changed none of it.
  // A live cache key is given 1000 s to live: a slide by the doctor would put it back to the idle timeout.
  for (const sc of scenarios) {
    const server = sc.env === IDLE_ENV ? idle : main;
    const key = cacheKeyOf(hashOf(sc.sessionId));
    const value = await server.services.cache.get(key);
    if (value !== null) await server.services.cache.set(key, value, 1000);
  }
  if (realStores) cacheBefore = await cacheSnapshot();
  // PGlite is one process: the servers let go of their databases before the CLI opens them. Closing
  // also writes the servers' last audit rows, so the snapshot below holds everything they did.
  await Promise.all([main.close(), idle.close()]);
  for (const dataDir of [mainDir, idleDir]) {
    const db = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir });
    try {
      rowsBefore.set(dataDir, await rowSnapshot(db.sql));
    } finally {
      await db.close();
    }
  }
  main = idle = undefined;
});

test.after(async () => {
  await Promise.all([main?.close(), idle?.close()]);
  rmSync(mainDir, { recursive: true, force: true });
  rmSync(idleDir, { recursive: true, force: true });
});

test('each scenario: --json verdict matches what the server answered, with the guide issue and exit status', async () => {
  assert.is(scenarios.length, 10);
  await forEach(scenarios, async (sc) => {
    const r = await cli(['sessions', 'doctor', sc.sessionId, ...sc.flags, '--json'], sc.env);
    const lines = r.stdout.trim().split('\n');
    assert.is(lines.length, 1, `${sc.name}: one JSON line on stdout\n${show(r)}`);
    const out = JSON.parse(lines[0]);
    const v = out.verdict;
    assert.ok(v, `${sc.name}: a verdict\n${show(r)}`);
    assert.not.ok(r.stdout.includes(sc.sessionId) && sc.sessionId.length >= 60, `${sc.name}: the whole session id is not printed`);
    if (!sc.server) {
      assert.is(r.code, 0, `${sc.name}\n${show(r)}`);
      assert.is(v.valid, true);
      assert.is(v.message, undefined);
      assert.ok(out.steps.every((s: { result: string }) => s.result !== 'fail'), `${sc.name}: no failing step`);
      return;
    }
    assert.is(r.code, 1, `${sc.name}: exit 1 when the server would refuse\n${show(r)}`);
    assert.is(v.valid, false, sc.name);
    assert.is(v.message, sc.server.message, `${sc.name}: the server's message`);
    assert.is(v.error_code, sc.server.error_code, `${sc.name}: the server's error_code`);
    assert.is(v.guide_issue, sc.issue, `${sc.name}: guide issue`);
    assert.type(v.remedy, 'string');
    assert.ok(v.remedy.length > 10);
    const failing = out.steps.filter((s: { result: string }) => s.result === 'fail');
    assert.is(failing.length, 1, `${sc.name}: one failing step: ${JSON.stringify(out.steps)}`);
    assert.is(failing[0].check, sc.failingStep, `${sc.name}: failing step`);
    assert.is(out.steps.at(-1).result, 'fail', `${sc.name}: the walk stops at the failing step`);
  });
});

test('in text: FAIL on the failing step, the issue number and the message (one scenario per guide issue)', async () => {
  // One per issue (the CLI is a process start each time): the silent idle case repeats #3.
  const failing = scenarios.filter((sc) => sc.server && sc.name !== 'idle expired (silent)');
  assert.equal([...new Set(failing.map((sc) => sc.issue))].sort(), [1, 2, 3, 4, 5, 6, 7, 8]);
  await forEach(failing, async (sc) => {
    const r = await cli(['sessions', 'doctor', sc.sessionId, ...sc.flags], sc.env);
    assert.is(r.code, 1, `${sc.name}\n${show(r)}`);
    const failLines = r.stdout.split('\n').filter((l) => /^\s+FAIL\s/.test(l));
    assert.is(failLines.length, 1, `${sc.name}: one FAIL line\n${show(r)}`);
    assert.ok(new RegExp(`^\\s+FAIL\\s+${sc.failingStep}\\s`).test(failLines[0]), `${sc.name}: FAIL on "${sc.failingStep}": ${failLines[0]}`);
    assert.ok(r.stdout.includes(`issue #${sc.issue}`), `${sc.name}: issue #${sc.issue}\n${show(r)}`);
    assert.ok(r.stdout.includes(`"${sc.server!.message}"`), `${sc.name}: the message\n${show(r)}`);
    assert.ok(r.stdout.includes(sc.server!.error_code));
    assert.not.ok(r.stdout.includes(sc.sessionId) && sc.sessionId.length >= 60, 'the whole session id is not printed');
  });
});

test('the doctor changed nothing: the same rows, no audit row', async () => {
  // Runs after the two tests above, which ran the doctor on every scenario.
  for (const dataDir of [mainDir, idleDir]) {
    const db = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir });
    try {
      assert.is(await rowSnapshot(db.sql), rowsBefore.get(dataDir), `the rows in ${realStores ? 'PostgreSQL' : dataDir} changed`);
    } finally {
      await db.close();
    }
  }
});

// Embedded: the command line's in-process cache is its own, so there is no server cache to compare.
testIn(test, 'real', 'the doctor never slides a TTL: the same cache entries in Redis, no TTL longer than before', async () => {
  const after = await cacheSnapshot();
  for (const [name, was] of Object.entries(cacheBefore)) {
    assert.is(after[name].value, was.value, `${name}: the cache entry changed`);
    assert.ok(after[name].ttl <= was.ttl, `${name}: TTL ${was.ttl} -> ${after[name].ttl}: slid`);
  }
  assert.ok(Object.values(cacheBefore).some((c) => c.value !== null), 'some scenarios had a live cache entry to watch');
});

test.run();
