// The audit log when PostgreSQL goes away, on a throwaway PostgreSQL (never the shared one): rows are
// spooled to <DATA_DIR>/audit-spool.ndjson, replayed in the order they were recorded once PostgreSQL is
// back, none twice. And a SIGTERM under load: the real server process flushes its queue before it
// exits, so every call that got an answer has exactly one row.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { startTestTether, TEST_JWT_SECRET, type TestTether } from '../support/tether.ts';
import { startThrowawayPostgres, freePort, type ThrowawayPostgres } from '../support/throwaway.ts';
import { loggedIn, unique } from '../support/fixtures.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A bounded wait that does not keep the process alive once the test is done. */
const timeout = (ms: number) => new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), ms).unref());

let pg: ThrowawayPostgres;
let t: TestTether | undefined;
let child: ChildProcess | undefined;
const dataDir = mkdtempSync(join(tmpdir(), 'tether-spool-'));
const childDir = mkdtempSync(join(tmpdir(), 'tether-sigterm-'));

test.before(async () => {
  pg = await startThrowawayPostgres();
});
test.after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await t?.close().catch(() => {});
  await pg?.stop().catch(() => {});
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(childDir, { recursive: true, force: true });
});

/** A metric's value from the Prometheus text (the unlabelled series). */
function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} is exposed`);
  return Number(line.split(' ')[1]);
}

async function scrape(x: TestTether): Promise<string> {
  const res = await fetch(`${x.url}/metrics`);
  assert.is(res.status, 200);
  return res.text();
}

test('PostgreSQL down: rows are spooled to disk, then replayed in order, none twice', async () => {
  t = await startTestTether({ DATABASE_URL: pg.url, JWT_SECRET: TEST_JWT_SECRET, REDIS_URL: '', DATA_DIR: dataDir, SWEEP_INTERVAL: '0' });
  assert.is(t.services.cache.kind, 'memory');
  const x = t;
  const s = await loggedIn(x);
  const spoolFile = join(dataDir, 'audit-spool.ndjson');
  const sent: string[] = [];
  const call = async (method: string, session: boolean) => {
    const id = unique('spool');
    sent.push(id);
    return session ? s.call(method, {}, { 'x-request-id': id }) : x.rpc(method, {}, { 'x-request-id': id });
  };

  // PostgreSQL up: rows go straight in.
  for (let i = 0; i < 3; i++) {
    assert.ok((await call('me', true)).body.result);
    assert.ok((await call('system.ping', false)).body.result);
  }
  await x.services.audit.flush();
  assert.is(x.services.audit.spooledRows(), 0);
  assert.is(x.services.audit.counters.spooled, 0);
  // The throwaway runs with synchronous_commit=off and kill() is a crash (SIGKILL): commits from the
  // last few hundred ms would be lost with the WAL buffers. A checkpoint makes what is written durable.
  await x.services.db.sql`checkpoint`;

  await pg.kill();

  // PostgreSQL gone: calls keep working with the cached session (validation reads the cache; the
  // bearer's status is the last one PostgreSQL gave this process), and each is still recorded.
  for (let i = 0; i < 4; i++) {
    const ping = await call('system.ping', false);
    assert.is(ping.body?.result?.pong, true, `system.ping needs no store: ${ping.text}`);
    const me = await call('me', true);
    assert.is(me.body?.result?.user?.id, s.user.id, `me during the outage: ${me.text}`);
  }
  await x.services.audit.flush();
  const spooled = x.services.audit.spooledRows();
  assert.ok(spooled >= 8, `the outage's rows are spooled: ${spooled}`);
  // The writer retries the replay in the background (every 200 ms while rows are spooled), renaming
  // the file aside for a moment each time: read it between two attempts.
  let lines: unknown[] = [];
  for (const until = Date.now() + 5000; Date.now() < until; await sleep(20)) {
    try {
      lines = readFileSync(spoolFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
      if (lines.length === spooled) break;
    } catch {
      /* renamed aside this very moment */
    }
  }
  assert.is(lines.length, spooled, 'the spool file holds the spooled rows, one JSON line each');
  for (const line of lines) assert.not.ok(JSON.stringify(line).includes(s.sessionId), 'no session id in the spool');
  let text = await scrape(x);
  assert.ok(metric(text, 'tether_audit_rows_spooled_total') > 0);
  assert.is(metric(text, 'tether_audit_spool_rows'), spooled);

  await pg.start();
  // Two more calls once it is back: they land after the replayed rows.
  assert.ok((await call('system.ping', false)).body.result);
  const back = await call('me', true);
  assert.ok(back.body.result, `the session works again: ${back.text}`);

  // The next flush replays; a connection the driver had not yet found dead may fail one round.
  const until = Date.now() + 15_000;
  await x.services.audit.flush();
  while (x.services.audit.spooledRows() > 0 && Date.now() < until) {
    await sleep(200);
    await x.services.audit.flush();
  }
  assert.is(x.services.audit.spooledRows(), 0, 'the spool is empty');
  assert.ok(!existsSync(spoolFile) || statSync(spoolFile).size === 0, 'the spool file is gone or empty');
  assert.not.ok(existsSync(`${spoolFile}.replaying`));

  // Each call sent its own X-Request-Id: the rows keep it as client_request_id.
  const rows = await x.services.db.sql<{ request_id: string; method: string }[]>`
    select client_request_id as request_id, method from api_access_log where client_request_id in ${x.services.db.sql(sent)} order by id`;
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(r.request_id, (counts.get(r.request_id) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1);
  assert.equal(twice, [], 'no row twice');
  assert.is(rows.length, sent.length, 'every call has its row');
  assert.equal(rows.map((r) => r.request_id), sent, 'in the order the calls were recorded');

  const { counters } = x.services.audit;
  assert.ok(counters.spooled >= spooled);
  assert.is(counters.replayed, counters.spooled, 'every spooled row was replayed');
  text = await scrape(x);
  assert.is(metric(text, 'tether_audit_rows_replayed_total'), counters.spooled);
  assert.is(metric(text, 'tether_audit_rows_spooled_total'), counters.spooled);
  assert.is(metric(text, 'tether_audit_spool_rows'), 0);

  await x.close();
  t = undefined;
});

async function waitHealthy(url: string, proc: ChildProcess, log: () => string): Promise<void> {
  const until = Date.now() + 30_000;
  while (Date.now() < until) {
    if (proc.exitCode !== null) throw new Error(`the server exited (${proc.exitCode}) before answering:\n${log()}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error(`the server did not answer /healthz within 30 s:\n${log()}`);
}

test('SIGTERM under load: the process flushes its audit queue; every answered call has exactly one row', async () => {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: pg.url, JWT_SECRET: TEST_JWT_SECRET, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: childDir, LOG_LEVEL: 'warn', SWEEP_INTERVAL: '0', SHUTDOWN_TIMEOUT: '5' };
  delete env.REDIS_URL;
  const proc = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child = proc;
  let output = '';
  proc.stdout!.on('data', (d) => (output += d));
  proc.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, proc, () => output);

  const TOTAL = 300;
  const ids = Array.from({ length: TOTAL }, () => unique('term'));
  const answered: string[] = [];
  let next = 0;
  let signalled = false;
  const worker = async () => {
    while (next < TOTAL) {
      const id = ids[next++];
      try {
        const res = await fetch(`${url}/jsonrpc`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-request-id': id },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'system.ping' }),
          signal: AbortSignal.timeout(10_000),
        });
        const body = (await res.json()) as { result?: { pong?: boolean } };
        if (body.result?.pong) answered.push(id);
      } catch {
        // Refused or cut off by the shutdown: no answer, nothing to check.
      }
      if (!signalled && answered.length >= TOTAL / 2) {
        signalled = true;
        proc.kill('SIGTERM');
      }
    }
  };
  await Promise.all(Array.from({ length: 25 }, worker));
  assert.ok(signalled, 'SIGTERM was sent mid-way');
  const code = await Promise.race([exited, timeout(30_000)]);
  assert.is(code, 0, `the server exits 0 after SIGTERM:\n${output.slice(-3000)}`);
  assert.ok(answered.length >= TOTAL / 2, `answered ${answered.length}`);

  const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ request_id: string; n: number }[]>`
      select client_request_id as request_id, count(*)::int as n from api_access_log where client_request_id in ${sql(ids)} group by client_request_id`;
    const counts = new Map(rows.map((r) => [r.request_id, r.n]));
    const missing = answered.filter((id) => !counts.has(id));
    assert.equal(missing, [], `answered calls without a row (${missing.length} of ${answered.length})`);
    const twice = rows.filter((r) => r.n !== 1);
    assert.equal(twice, [], 'no call has two rows');
  } finally {
    await sql.end({ timeout: 5 });
  }
  assert.not.ok(existsSync(join(childDir, 'audit-spool.ndjson')) && statSync(join(childDir, 'audit-spool.ndjson')).size > 0, 'nothing left spooled: PostgreSQL was up');
});

test.run();
