// README (Configuration): WORKERS=2 runs two processes on one port (node:cluster), and a worker that
// dies is replaced; it needs DATABASE_URL, so this runs in real mode only. Every call opens its own
// connection (the cluster hands out connections, not requests), and every call's log line carries the
// pid of the worker that answered it, so the test sees which process served what.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestTether, TEST_JWT_SECRET, type TestTether } from '../support/tether.ts';
import { freePort } from '../support/throwaway.ts';
import { clientHeaders, newClient, newUser, tokenFor } from '../support/fixtures.ts';
import { testIn } from '../support/modes.ts';

const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
let helper: TestTether | undefined;
let child: ChildProcess | undefined;
const dataDir = mkdtempSync(join(tmpdir(), 'tether-workers-'));
test.after(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await helper?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** One JSON-RPC call on a connection of its own, tagged with a request id. */
function call(port: number, method: string, params: unknown, headers: Record<string, string>): Promise<{ id: string; body: any }> {
  const id = `workers-${randomBytes(6).toString('hex')}`;
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/jsonrpc', method: 'POST', agent: false, headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-request-id': id } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ id, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The answering worker's process start time, from its own /metrics, on a fresh connection. */
function startTimeOf(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(/^tether_process_start_time_seconds (\S+)/m.exec(text)?.[1] ?? ''));
      })
      .on('error', reject);
  });
}

const workerPids = (pid: number) =>
  new Promise<number[]>((resolve) => execFile('pgrep', ['-P', String(pid)], (_err, out) => resolve(out.split('\n').filter(Boolean).map(Number).sort())));

async function poll(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) if (await check()) return true;
  return false;
}

testIn(test, 'real', 'WORKERS=2: a session from one worker works on the other, a logout on one is seen by the other, a killed worker is replaced', async () => {
  // Fixtures (client, user, token) through an in-process Tether on the same stores.
  helper = await startTestTether();
  const client = await newClient(helper);
  const user = await newUser(helper);
  const headers = clientHeaders(await tokenFor(helper, client));

  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, WORKERS: '2', PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, JWT_SECRET: TEST_JWT_SECRET, SWEEP_INTERVAL: '0', LOGIN_MAX_FAILURES_PER_IP: '0', LOG_LEVEL: 'info', NO_COLOR: '1' };
  const proc = (child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  proc.stdout!.on('data', (d) => (output += d));
  proc.stderr!.on('data', (d) => (output += d));
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const up = await poll(150_000, async () => (await workerPids(proc.pid!)).length === 2 && (await call(port, 'system.ping', {}, {}).then(() => true, () => false)));
  assert.ok(up, `two workers never answered:\n${output}`);

  // A worker killed outright is replaced, and calls keep being answered. First, so that the calls
  // below are answered by workers that write their log lines out at the end (a SIGKILL loses a buffer).
  const [first, second] = await workerPids(proc.pid!);
  process.kill(first, 'SIGKILL');
  const replaced = await poll(120_000, async () => {
    const now = await workerPids(proc.pid!);
    return now.length === 2 && !now.includes(first) && now.includes(second);
  });
  assert.ok(replaced, `the killed worker ${first} was not replaced:\n${output}`);
  // The replacement serves once it listens: scrapes on fresh connections then come from two processes
  // with different start times (the replacement started after the kill).
  const serving = await poll(120_000, async () => {
    const starts = await Promise.all(Array.from({ length: 6 }, () => startTimeOf(port).catch(() => undefined)));
    return new Set(starts.filter((x) => x !== undefined)).size === 2;
  });
  assert.ok(serving, 'both workers answer after the replacement');

  const login = await call(port, 'users.login', { login: user.login, password: user.password }, headers);
  const sessionId: string = login.body.result?.session_id;
  assert.type(sessionId, 'string', JSON.stringify(login.body));
  const before = await Promise.all(Array.from({ length: 20 }, () => call(port, 'me', { session_id: sessionId }, headers)));
  for (const r of before) assert.ok(r.body.result, JSON.stringify(r.body));
  const logout = await call(port, 'users.logout', { session_id: sessionId }, headers);
  assert.is(logout.body.result?.logged_out, true);
  const after = await Promise.all(Array.from({ length: 20 }, () => call(port, 'me', { session_id: sessionId }, headers)));
  for (const r of after) assert.is(r.body.error?.data?.error_code, 'SESSION_REQUIRED', JSON.stringify(r.body));

  // Stop: every worker writes out its buffered log lines; then read who answered what.
  proc.kill('SIGTERM');
  assert.is(await exit, 0, output);
  const lines = output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  // Our X-Request-Id is kept as client_request_id beside the service's own request id.
  const pidOf = new Map(lines.filter((l) => l.msg === 'call').map((l) => [l.client_request_id as string, l.pid as number]));
  const loginPid = pidOf.get(login.id);
  const logoutPid = pidOf.get(logout.id);
  assert.ok(loginPid && logoutPid, 'the login and logout lines carry a pid');
  assert.ok(before.some((r) => pidOf.get(r.id) !== loginPid), 'another worker accepted the session opened on the login worker');
  assert.ok(after.some((r) => pidOf.get(r.id) !== logoutPid), 'another worker refused the session the logout worker ended');
  assert.match(output, /worker exited; starting another/);
});

test.run();
