// Start-up and shutdown as an operator meets them, on the real entry points (`server/main.ts`,
// `bin/tether.js`) and throwaway listeners this test owns:
// - a DATABASE_URL at a port that answers but is not PostgreSQL (an HTTP server, a silent one): the
//   server and the CLI exit 1 within STORE_STARTUP_TIMEOUT naming the store, the variable and the
//   address; a closed port does too (ECONNREFUSED, named);
// - a REDIS_URL at a silent port: the banner says degraded, and a SIGTERM still ends the process;
// - SIGTERM repeated during the shutdown (what `timeout`, systemd and make's process group send): the
//   drain goes on, the audit queue is flushed, exit 0, "shutting down" once, the repeat logged once,
//   the DATA_DIR lock and server.json removed; the same under `make` getting SIGTERM on its group;
// - SIGTERM at the first moment the process can take it, before the server is loaded: nothing opened,
//   exit 0; SIGTERM during an embedded start-up: no listening, exit 0 within SHUTDOWN_TIMEOUT.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_JWT_SECRET, realStores } from '../support/tether.ts';
import { freePort } from '../support/throwaway.ts';
import { ROOT, embeddedEnv, eventually, runCli, showRun } from '../support/child.ts';

const MAIN = join(ROOT, 'server/main.ts');
const dirs: string[] = [];
const children = new Set<ChildProcess>();
const closers: (() => void)[] = [];
test.after(() => {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }
  for (const close of closers) close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tether-startstop-'));
  dirs.push(dir);
  return dir;
};

interface Proc {
  proc: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** A child in a process group of its own (as a supervisor or a terminal starts one). */
function start(command: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Proc {
  const proc = spawn(command, args, { cwd, env: { HOST: '127.0.0.1', SWEEP_INTERVAL: '0', LOG_LEVEL: 'info', NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.add(proc);
  let output = '';
  proc.stdout!.on('data', (d) => (output += d));
  proc.stderr!.on('data', (d) => (output += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  return { proc, output: () => output, exit };
}

const exitWithin = (p: Proc, ms: number) => Promise.race([p.exit, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms))]);

/** The stores of this run's mode, or embedded ones on `dataDir`. */
function storesEnv(dataDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return realStores ? { ...process.env, DATA_DIR: dataDir, JWT_SECRET: TEST_JWT_SECRET, ...extra } : embeddedEnv(dataDir, extra);
}

/** A TCP listener this test owns: `answer` decides what a connection gets. */
async function listener(answer: (socket: net.Socket) => void): Promise<{ port: number; connections: () => number }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    answer(socket);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  closers.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port, connections: () => sockets.length };
}

/** An HTTP server: what a DATABASE_URL pointing at Tether's own port (or any web server) reaches. */
async function httpServer(): Promise<number> {
  const server = http.createServer((_req, res) => res.end('not postgres\n'));
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return port;
}

const STORE_TIMEOUT = 2;

async function refusedAtStart(databaseUrl: string, expected: RegExp): Promise<void> {
  const dataDir = tempDir();
  const env = { ...process.env, DATA_DIR: dataDir, DATABASE_URL: databaseUrl, REDIS_URL: '', JWT_SECRET: TEST_JWT_SECRET, STORE_STARTUP_TIMEOUT: String(STORE_TIMEOUT), PORT: String(await freePort()) };
  // The server: exit 1, the reason on stderr. 120 s bounds a loaded machine's tsx start, not the promise.
  const server = start(process.execPath, ['--import', 'tsx', MAIN], env);
  const exited = await exitWithin(server, 120_000);
  assert.ok(exited, `the server still runs (hangs on the store):\n${server.output()}`);
  assert.equal({ code: exited!.code, signal: exited!.signal }, { code: 1, signal: null }, server.output());
  assert.match(server.output(), expected, server.output());
  assert.not.match(server.output(), /listening/);
  // The CLI: exit 1, the same reason.
  const cli = await runCli(['users', 'list'], env, '', 120_000);
  assert.is(cli.code, 1, showRun(cli));
  assert.match(cli.stderr, expected, showRun(cli));
}

test('DATABASE_URL at an HTTP server: the server and the CLI exit 1 naming PostgreSQL, DATABASE_URL and the address', async () => {
  const port = await httpServer();
  await refusedAtStart(`postgres://postgres@127.0.0.1:${port}/tether`, new RegExp(`PostgreSQL at DATABASE_URL \\(127\\.0\\.0\\.1:${port}\\) (did not answer as PostgreSQL within ${STORE_TIMEOUT} s|could not be opened: )`));
});

test('DATABASE_URL at a port that accepts and says nothing: exit 1, "did not answer as PostgreSQL within 2 s"', async () => {
  const silent = await listener(() => {});
  await refusedAtStart(`postgres://postgres@127.0.0.1:${silent.port}/tether`, new RegExp(`PostgreSQL at DATABASE_URL \\(127\\.0\\.0\\.1:${silent.port}\\) did not answer as PostgreSQL within ${STORE_TIMEOUT} s`));
  assert.ok(silent.connections() > 0, 'the connection reached the listener');
});

test('DATABASE_URL at a closed port: exit 1 naming the store and the variable as well as ECONNREFUSED', async () => {
  const port = await freePort();
  await refusedAtStart(`postgres://postgres:secret-pw@127.0.0.1:${port}/tether`, new RegExp(`PostgreSQL at DATABASE_URL \\(127\\.0\\.0\\.1:${port}\\) could not be opened: .*ECONNREFUSED`));
});

test('REDIS_URL at a silent port: the banner says degraded (not "cache: redis"), and SIGTERM still ends the process (exit 0)', async () => {
  const silent = await listener(() => {});
  const dataDir = tempDir();
  const p = start(process.execPath, ['--import', 'tsx', MAIN], storesEnv(dataDir, { REDIS_URL: `redis://127.0.0.1:${silent.port}/0`, PORT: String(await freePort()), SHUTDOWN_TIMEOUT: '3' }));
  const up = await eventually(150_000, () => p.proc.exitCode !== null || p.output().includes('Tether is listening on'));
  assert.ok(up && p.proc.exitCode === null, `did not come up:\n${p.output()}`);
  const banner = p.output().split('\n').find((l) => l.startsWith('Tether is listening on'))!;
  assert.match(banner, /cache: degraded/, banner);
  assert.not.match(banner, /cache: redis/, banner);
  assert.match(p.output(), new RegExp(`Redis at REDIS_URL \\(127\\.0\\.0\\.1:${silent.port}\\) unreachable at start: starting degraded`));
  process.kill(p.proc.pid!, 'SIGTERM');
  const exited = await exitWithin(p, 60_000);
  assert.ok(exited, `still running 60 s after SIGTERM (the cache close waits on a silent Redis):\n${p.output()}`);
  assert.equal({ code: exited!.code, signal: exited!.signal }, { code: 0, signal: null }, p.output());
  assert.match(p.output(), /"msg":"stopped"/);
});

/** Up: the banner is out and /healthz answers. */
async function upAt(p: Proc, url: string): Promise<void> {
  const up = await eventually(150_000, async () => {
    if (p.proc.exitCode !== null) throw new Error('exited');
    return p.output().includes('Tether is listening on') && (await fetch(url + '/healthz')).status === 200;
  });
  assert.ok(up && p.proc.exitCode === null, `did not come up:\n${p.output()}`);
}

/** A call whose body never ends: in flight at the server until SHUTDOWN_TIMEOUT cuts it off. */
async function callInFlight(port: number): Promise<void> {
  const req = http.request({ host: '127.0.0.1', port, path: '/jsonrpc', method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': 1000, expect: '100-continue' } });
  req.on('error', () => {});
  const continued = new Promise<boolean>((resolve) => {
    req.on('continue', () => resolve(true));
    setTimeout(() => resolve(false), 30_000).unref();
  });
  req.flushHeaders();
  assert.ok(await continued, 'the server never took the call in');
  req.write('{"jsonrpc":"2.0",');
}

const count = (text: string, pattern: RegExp) => text.split('\n').filter((l) => pattern.test(l)).length;

function assertCleanStop(p: Proc, dataDir: string, calls: number): void {
  const out = p.output();
  assert.is(count(out, /"msg":"shutting down"/), 1, out);
  assert.is(count(out, /"msg":"signal during shutdown: ignored/), 1, `the repeats are logged once:\n${out}`);
  const stopped = out.split('\n').find((l) => l.includes('"msg":"stopped"'));
  assert.ok(stopped, `no "stopped" line: the shutdown did not finish:\n${out}`);
  // The audit queue was flushed (or spooled) before the exit: every call made before the signal counted.
  const { audit_rows_written: written, audit_rows_spooled: spooled } = JSON.parse(stopped!) as { audit_rows_written: number; audit_rows_spooled: number };
  assert.ok(written + spooled >= calls, `${written} + ${spooled} audit rows for ${calls} calls`);
  assert.not.ok(existsSync(join(dataDir, 'tether.lock')), 'DATA_DIR/tether.lock removed');
  assert.not.ok(existsSync(join(dataDir, 'server.json')), 'DATA_DIR/server.json removed');
}

test('SIGTERM three times during the shutdown: the drain goes on, audit flushed, exit 0, lock and server.json removed', async () => {
  const dataDir = tempDir();
  const port = await freePort();
  const p = start(process.execPath, ['--import', 'tsx', MAIN], storesEnv(dataDir, { PORT: String(port), SHUTDOWN_TIMEOUT: '3', LOG_LEVEL: 'info' }));
  const url = `http://127.0.0.1:${port}`;
  await upAt(p, url);
  // Both modes: the embedded server publishes where its PGlite answers; a server on real stores has nothing to publish.
  assert.is(existsSync(join(dataDir, 'server.json')), !realStores, realStores ? 'no server.json on real stores' : 'the embedded server published server.json');
  const calls = 5;
  for (let i = 0; i < calls; i++) assert.is((await fetch(`${url}/jsonrpc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"system.ping"}' })).status, 200);
  await callInFlight(port);
  process.kill(p.proc.pid!, 'SIGTERM');
  assert.ok(await eventually(30_000, () => p.output().includes('"msg":"shutting down"')), p.output());
  // The drain waits SHUTDOWN_TIMEOUT for the call in flight: these land during it.
  process.kill(p.proc.pid!, 'SIGTERM');
  process.kill(p.proc.pid!, 'SIGINT');
  process.kill(p.proc.pid!, 'SIGTERM');
  const exited = await exitWithin(p, 60_000);
  assert.ok(exited, p.output());
  assert.equal({ code: exited!.code, signal: exited!.signal }, { code: 0, signal: null }, p.output());
  assertCleanStop(p, dataDir, calls);
});

test('make run getting SIGTERM on its process group (twice): the server under make stops cleanly, lock and server.json removed', async () => {
  const dataDir = tempDir();
  const port = await freePort();
  // make's `run` recipe with the sources through tsx (`make run` builds dist/ first: the same main).
  const makefile = join(tempDir(), 'Makefile');
  writeFileSync(makefile, `run:\n\t${process.execPath} --import tsx ${MAIN}\n`);
  const p = start('make', ['-s', '-f', makefile, 'run'], storesEnv(dataDir, { PORT: String(port), SHUTDOWN_TIMEOUT: '3' }));
  const url = `http://127.0.0.1:${port}`;
  await upAt(p, url);
  const calls = 3;
  for (let i = 0; i < calls; i++) assert.is((await fetch(`${url}/jsonrpc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"system.ping"}' })).status, 200);
  await callInFlight(port);
  // The group: make and node both get it, and make sends node its own SIGTERM on top.
  process.kill(-p.proc.pid!, 'SIGTERM');
  assert.ok(await eventually(30_000, () => p.output().includes('"msg":"shutting down"')), p.output());
  try {
    process.kill(-p.proc.pid!, 'SIGTERM');
  } catch {
    // make may be gone already; node is what matters
  }
  const exited = await exitWithin(p, 60_000);
  assert.ok(exited, p.output());
  // make's own status reflects its signal; node's clean stop is in its log and on disk. make waits for
  // its child before it exits, so the log is complete here.
  assert.ok(await eventually(10_000, () => p.output().includes('"msg":"stopped"')), `node did not finish its shutdown:\n${p.output()}`);
  assertCleanStop(p, dataDir, calls);
});

/**
 * The stop handlers are installed (SIGTERM, SIGINT and SIGHUP at once): SIGHUP's bit in /proc/<pid>/status
 * SigCgt (node itself catches SIGTERM and SIGINT from its first instant, to re-raise them when no
 * handler is installed, so their bits say nothing).
 */
function hasStopHandlers(pid: number): boolean {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('SigCgt:'));
    return line !== undefined && (BigInt(`0x${line.split(/\s+/)[1]}`) & 1n) !== 0n;
  } catch {
    return false;
  }
}

test('SIGTERM the moment the process can take it (before the server is loaded): nothing opened, exit 0', async () => {
  const dataDir = tempDir();
  const p = start(process.execPath, ['--import', 'tsx', MAIN], storesEnv(dataDir, { PORT: String(await freePort()) }));
  assert.ok(await eventually(60_000, () => hasStopHandlers(p.proc.pid!) || p.proc.exitCode !== null, 5), p.output());
  process.kill(p.proc.pid!, 'SIGTERM');
  const exited = await exitWithin(p, 60_000);
  assert.ok(exited, p.output());
  assert.equal({ code: exited!.code, signal: exited!.signal }, { code: 0, signal: null }, p.output());
  assert.match(p.output(), /SIGTERM before start-up: stopped \(nothing was opened\)/, p.output());
  assert.not.match(p.output(), /listening/);
  assert.equal(existsSync(dataDir) ? readdirSync(dataDir) : [], [], 'nothing made in DATA_DIR');
});

test('SIGTERM during an embedded start-up: it stops at its next step (never listens, never waits out SHUTDOWN_TIMEOUT), exit 0, lock removed', async () => {
  const dataDir = tempDir();
  // Long, so that start-up stopping at its next step and start-up running out the bound tell apart.
  const SHUTDOWN_TIMEOUT = 60;
  const p = start(process.execPath, ['--import', 'tsx', MAIN], embeddedEnv(dataDir, { HOST: '127.0.0.1', SWEEP_INTERVAL: '0', LOG_LEVEL: 'info', PORT: String(await freePort()), SHUTDOWN_TIMEOUT: String(SHUTDOWN_TIMEOUT) }));
  // The lock is taken before PGlite opens: start-up is under way.
  assert.ok(await eventually(120_000, () => existsSync(join(dataDir, 'tether.lock')) || p.proc.exitCode !== null, 10), p.output());
  const signalledAt = Date.now();
  process.kill(p.proc.pid!, 'SIGTERM');
  const limit = SHUTDOWN_TIMEOUT * 1000 + 5000;
  const exited = await exitWithin(p, limit);
  assert.ok(exited, `still running ${limit} ms after SIGTERM:\n${p.output()}`);
  assert.ok(exited!.at - signalledAt <= limit);
  assert.equal({ code: exited!.code, signal: exited!.signal }, { code: 0, signal: null }, p.output());
  assert.not.match(p.output(), /listening/, `start-up went on to serve after the signal:\n${p.output()}`);
  assert.match(p.output(), /"msg":"stopped during start-up"/, `start-up did not stop at a step:\n${p.output()}`);
  assert.not.match(p.output(), /did not end within SHUTDOWN_TIMEOUT/);
  assert.not.ok(existsSync(join(dataDir, 'tether.lock')), 'lock removed');
  assert.not.ok(existsSync(join(dataDir, 'server.json')), 'server.json never published');
});

test.run();
