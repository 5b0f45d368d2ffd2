// `node server/main.ts` as users run it, and a signal:
// - SIGTERM during start-up: the process exits within SHUTDOWN_TIMEOUT, whatever start-up is waiting on.
//   Start-up is held at a PostgreSQL that accepts connections and never answers (a listener this test
//   owns), so "during start-up" is a state the test sees (the connection arrived), not a moment it guesses.
// - SHUTDOWN_TIMEOUT running out (README, Configuration): a call still in flight when it runs out has its
//   connection closed, the shutdown is logged, and the process exits 0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { realStores, TEST_JWT_SECRET } from '../support/tether.ts';
import { freePort } from '../support/throwaway.ts';

const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
const dirs: string[] = [];
const children: ChildProcess[] = [];
test.after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function poll(ms: number, check: () => boolean | Promise<boolean>): Promise<boolean> {
  for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
    if (await check()) return true;
  }
  return false;
}

interface Running {
  child: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

function run(env: Record<string, string | undefined>): Running {
  const dataDir = mkdtempSync(join(tmpdir(), 'tether-signals-'));
  dirs.push(dataDir);
  const childEnv: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, HOST: '127.0.0.1', LOG_LEVEL: 'info', SWEEP_INTERVAL: '0', NO_COLOR: '1' };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  return { child, output: () => output, exit };
}

/** Resolves with the exit, or undefined if the process is still running after `ms`. */
const exitWithin = (r: Running, ms: number) => Promise.race([r.exit, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms))]);

test('SIGTERM during start-up (PostgreSQL not answering yet): the process exits within SHUTDOWN_TIMEOUT', async () => {
  const SHUTDOWN_TIMEOUT = 2;
  // A "PostgreSQL" that accepts and stays silent: start-up waits on it.
  const arrived: net.Socket[] = [];
  const silent = net.createServer((socket) => arrived.push(socket));
  const port = await freePort();
  await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve));
  try {
    const r = run({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/tether`, REDIS_URL: undefined, JWT_SECRET: TEST_JWT_SECRET, PORT: '0', SHUTDOWN_TIMEOUT: String(SHUTDOWN_TIMEOUT), STORE_STARTUP_TIMEOUT: '600' });
    // 120 s: loading the code through tsx takes a while on a loaded 2-core machine.
    assert.ok(await poll(120_000, () => arrived.length > 0 || r.child.exitCode !== null), `start-up never reached PostgreSQL:\n${r.output()}`);
    assert.is(r.child.exitCode, null, `exited before the signal:\n${r.output()}`);
    const signalledAt = Date.now();
    r.child.kill('SIGTERM');
    // The promise is SHUTDOWN_TIMEOUT; 5 s more for a loaded machine to schedule the exit.
    const limit = SHUTDOWN_TIMEOUT * 1000 + 5000;
    const exited = await exitWithin(r, limit);
    assert.ok(exited, `still running ${limit} ms after SIGTERM during start-up:\n${r.output()}`);
    assert.ok(exited!.at - signalledAt <= limit);
    assert.not.match(r.output(), /listening/, 'it never started serving');
    // Acted on the signal, not on start-up giving up (a silent PostgreSQL fails the start after its
    // connect timeout, with "failed to start" and exit 1).
    assert.not.match(r.output(), /failed to start/, `the exit was start-up failing, not the signal:\n${r.output()}`);
    assert.equal({ code: exited!.code, signal: exited!.signal }, { code: 0, signal: null }, r.output());
  } finally {
    for (const s of arrived) s.destroy();
    silent.close();
  }
});

test('SHUTDOWN_TIMEOUT runs out: the call still in flight is cut off, the timeout is logged, exit 0', async () => {
  const SHUTDOWN_TIMEOUT = 2;
  const port = await freePort();
  const stores = realStores ? { JWT_SECRET: TEST_JWT_SECRET } : { DATABASE_URL: undefined, REDIS_URL: undefined, JWT_SECRET: undefined };
  const r = run({ ...stores, PORT: String(port), SHUTDOWN_TIMEOUT: String(SHUTDOWN_TIMEOUT) });
  // Up means the banner is printed: main.ts has finished starting (in embedded mode it makes the demo
  // client and user after the port answers) and its shutdown is in place. A SIGTERM before that is a
  // signal during start-up, which ends the process after SHUTDOWN_TIMEOUT without this log line.
  // 150 s: an embedded start (PGlite) took over 60 s on a 2-core machine at load 19.
  const up = await poll(150_000, () => r.child.exitCode !== null || r.output().includes('Tether is listening on'));
  assert.ok(up && r.child.exitCode === null, `server/main.ts did not come up:\n${r.output()}`);

  // A call whose body never finishes: it stays in flight until the server gives up on it. With
  // `Expect: 100-continue` the server answers "100 Continue" once it has parsed the headers, so the
  // call is known to be in flight there (a connection whose request has not begun is idle, and a
  // shutdown closes it at once).
  const req = http.request({ host: '127.0.0.1', port, path: '/jsonrpc', method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': 1000, expect: '100-continue' } });
  const outcome = new Promise<string>((resolve) => {
    req.on('response', (res) => resolve(`answered ${res.statusCode}`));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`closed: ${err.code ?? err.message}`));
  });
  const continued = new Promise<boolean>((resolve) => {
    req.on('continue', () => resolve(true));
    setTimeout(() => resolve(false), 30_000).unref();
  });
  req.flushHeaders();
  assert.ok(await continued, 'the server never took the call in (no 100 Continue)');
  req.write('{"jsonrpc":"2.0",');

  const signalledAt = Date.now();
  r.child.kill('SIGTERM');
  // The call never finishes on its own: any exit shows the timeout at work. The bound is generous for
  // a loaded machine; the lower one shows the call got its SHUTDOWN_TIMEOUT first.
  const exited = await exitWithin(r, SHUTDOWN_TIMEOUT * 1000 + 20_000);
  assert.ok(exited, `still running after SHUTDOWN_TIMEOUT + 20 s:\n${r.output()}`);
  assert.ok(exited!.at - signalledAt >= SHUTDOWN_TIMEOUT * 1000 - 100, `exited ${exited!.at - signalledAt} ms after SIGTERM, before SHUTDOWN_TIMEOUT`);
  assert.equal({ code: exited!.code, signal: exited!.signal }, { code: 0, signal: null }, r.output());
  assert.match(await outcome, /^closed: /, 'the in-flight call was cut off, not answered');
  assert.match(r.output(), /"msg":"shutdown timeout: closing remaining connections"/, r.output());
  assert.match(r.output(), /"timeout_s":2/);
});

test.run();
