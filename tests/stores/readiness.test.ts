// /readyz follows the cache: a Tether on a throwaway Redis is ready, is not ready (naming the cache)
// while that Redis is killed, while /healthz stays up, and is ready again once Redis is back.
// Then graceful shutdown of the real entry point: `node --import tsx server/main.ts` (embedded),
// calls in flight when SIGTERM arrives still complete, and the process exits 0 in time.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { freePort, startThrowawayRedis, type ThrowawayRedis } from '../support/throwaway.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function poll<T>(ms: number, attempt: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await attempt().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(100);
  }
  return undefined;
}

async function get(url: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.json() };
}

// ---- readiness follows Redis ----

const ready = suite('readiness with Redis killed and restarted');
let redis: ThrowawayRedis;
let t: TestTether;

ready.before(async () => {
  redis = await startThrowawayRedis();
  t = await startTestTether({ REDIS_URL: redis.url });
});
ready.after(async () => {
  await t?.close();
  await redis?.stop();
});

ready('/readyz answers 200 with both stores ok', async () => {
  const res = await get(t.url + '/readyz');
  assert.is(res.status, 200);
  assert.is(res.body.ok, true);
  assert.is(res.body.status, 'ok');
  assert.is(res.body.postgres, 'ok');
  assert.is(res.body.cache, 'ok');
  assert.is(res.body.cache_kind, 'redis');
  assert.is(res.body.database_kind, process.env.DATABASE_URL ? 'postgres' : 'embedded');
});

ready('Redis killed: /readyz answers 503 naming the cache; /healthz and calls stay up', async () => {
  await redis.kill();
  const down = await poll(5000, async () => {
    const res = await get(t.url + '/readyz');
    return res.status === 503 ? res : undefined;
  });
  assert.ok(down, '/readyz did not turn 503 within 5 s of Redis being killed');
  assert.is(down.body.ok, false);
  assert.is(down.body.status, 'degraded', 'only the cache is down: degraded, not unavailable');
  assert.is(down.body.postgres, 'ok', 'the database was reported down with only Redis gone');
  assert.match(down.body.cache, /^unavailable: /);
  assert.is(down.body.cache_kind, 'redis');
  // Still answering (and quickly: within the probe's own bound) on every later try.
  const again = await get(t.url + '/readyz');
  assert.is(again.status, 503);
  const health = await get(t.url + '/healthz');
  assert.is(health.status, 200);
  assert.equal(health.body, { status: 'ok' });
  const ping = await t.rpc('system.ping');
  assert.is(ping.status, 200);
  assert.is(ping.body.result.pong, true);
});

ready('Redis restarted: /readyz answers 200 again without restarting Tether', async () => {
  await redis.restart();
  const up = await poll(10_000, async () => {
    const res = await get(t.url + '/readyz');
    return res.status === 200 ? res : undefined;
  });
  assert.ok(up, '/readyz did not recover within 10 s of Redis coming back');
  assert.is(up.body.ok, true);
  assert.is(up.body.status, 'ok');
  assert.is(up.body.cache, 'ok');
  assert.is(up.body.postgres, 'ok');
});

ready.run();

// ---- graceful shutdown of server/main.ts ----

const shutdown = suite('graceful shutdown on SIGTERM');
const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
const SHUTDOWN_TIMEOUT = 5;
let child: ChildProcess | undefined;
let dataDir: string;

shutdown.after(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** A POST whose headers are sent now and whose body is sent by finish(): a call in flight. */
/** The server's open sockets (prom-client's active handles of type Socket; the scrape's own included). */
async function openSockets(base: string): Promise<number> {
  const text = await (await fetch(base + '/metrics')).text();
  return Number(/^tether_nodejs_active_handles\{type="Socket"\} (\d+)/m.exec(text)?.[1] ?? NaN);
}

function heldCall(base: string, body: string) {
  const url = new URL('/jsonrpc', base);
  const req = http.request({
    host: url.hostname,
    port: url.port,
    path: url.pathname,
    method: 'POST',
    agent: false,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  const answer = new Promise<{ status: number; body: any }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch (err) {
          reject(new Error(`unparseable answer ${res.statusCode}: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on('error', reject);
  });
  req.flushHeaders();
  return { answer, finish: () => req.end(body) };
}

shutdown('calls in flight at SIGTERM complete, new connections are refused, and the process exits 0 in time', async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tether-shutdown-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, SHUTDOWN_TIMEOUT: String(SHUTDOWN_TIMEOUT), LOG_LEVEL: 'info' };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  delete env.JWT_SECRET;
  const proc = (child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  proc.stdout!.on('data', (d) => (output += d));
  proc.stderr!.on('data', (d) => (output += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const base = `http://127.0.0.1:${port}`;

  // 150 s: an embedded start (PGlite compiling its WebAssembly) took over 60 s on a 2-core machine at load 19.
  // Up: /healthz answers, and the start-up banner (after which the signal handlers are installed) is out.
  const up = await poll(150_000, async () => {
    if (proc.exitCode !== null) throw new Error('exited');
    const res = await get(base + '/healthz');
    return res.status === 200 && output.includes('Tether is listening on') ? true : undefined;
  });
  assert.ok(up, `server/main.ts did not come up within 150 s:\n${output}`);

  // A few plain calls, then calls left in flight: headers sent, body not yet.
  for (let i = 0; i < 3; i++) {
    const res = await fetch(base + '/jsonrpc', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'system.ping' }) });
    assert.is(res.status, 200);
    assert.is((await res.json()).result.pong, true);
  }
  const socketsBefore = await openSockets(base);
  const inFlight = [1, 2, 3].map((id) => heldCall(base, JSON.stringify({ jsonrpc: '2.0', id: 100 + id, method: 'system.ping' })));
  // The server holds the three connections (its own count of open sockets, from /metrics) before the signal.
  const held = await poll(30_000, async () => ((await openSockets(base)) >= socketsBefore + 3 ? true : undefined));
  assert.ok(held, 'the server never held the three in-flight connections');

  const signalledAt = Date.now();
  proc.kill('SIGTERM');
  // Shutting down: the listener closes, so a new connection is refused...
  const refused = await poll(5000, () =>
    get(base + '/healthz').then(
      () => undefined,
      () => true,
    ),
  );
  assert.ok(refused, 'new connections were still accepted 5 s after SIGTERM');
  assert.is(proc.exitCode, null, 'the process exited with calls still in flight');
  // ...while the calls already in flight complete normally.
  for (const call of inFlight) call.finish();
  const answers = await Promise.all(inFlight.map((c) => c.answer));
  for (const [i, res] of answers.entries()) {
    assert.is(res.status, 200);
    assert.is(res.body.id, 101 + i);
    assert.is(res.body.result?.pong, true, `in-flight call ${i} failed: ${JSON.stringify(res.body)}`);
  }

  const limit = (SHUTDOWN_TIMEOUT + 5) * 1000;
  const result = await Promise.race([exit, sleep(Math.max(0, limit - (Date.now() - signalledAt))).then(() => undefined)]);
  assert.ok(result, `still running ${limit} ms after SIGTERM:\n${output}`);
  assert.equal(result, { code: 0, signal: null }, `exit after SIGTERM:\n${output}`);
  assert.match(output, /shutting down/);
  // The buffered log is written out at exit: every call's line is there, the in-flight ones included.
  assert.is((output.match(/"msg":"call"/g) ?? []).length, 6, 'one log line per call (3 plain + 3 in flight)');
});

shutdown.run();
