// README (top): `make run` on the embedded defaults, the first time: a generated JWT secret in
// DATA_DIR/jwt-secret, a demo OAuth client and admin user whose credentials are kept in
// DATA_DIR/demo-credentials.json, and a printed curl flow that works as printed. The process is
// `node server/main.ts` with no DATABASE_URL/REDIS_URL, whatever stores the suite runs on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/throwaway.ts';

const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
const dataDir = join(mkdtempSync(join(tmpdir(), 'tether-first-')), 'data');
let child: ChildProcess | undefined;
test.after(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
  }
  rmSync(join(dataDir, '..'), { recursive: true, force: true });
});

test('first start: jwt-secret generated, demo client and user in demo-credentials.json, the printed flow works', async () => {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, SWEEP_INTERVAL: '0', NO_COLOR: '1' };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET']) delete env[name];
  child = spawn(process.execPath, ['--import', 'tsx', MAIN], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  // The banner is on stderr; the JSON log lines on stdout (kept apart here: the log is flushed on a
  // timer, so its lines can arrive at any point of the banner's read).
  let banner = '';
  let logs = '';
  child.stdout!.on('data', (d) => (logs += d));
  child.stderr!.on('data', (d) => (banner += d));
  // 150 s: an embedded start (PGlite) took over 60 s on a 2-core machine at load 19. The flow is the
  // last thing printed, after an empty line.
  const flowMarker = 'The whole flow with the demo client and user';
  for (const until = Date.now() + 150_000; Date.now() < until && child.exitCode === null; await new Promise((r) => setTimeout(r, 100))) {
    if (banner.includes(flowMarker) && /\n\n$/.test(banner.slice(banner.indexOf(flowMarker)))) break;
  }
  assert.ok(banner.includes(flowMarker), `no demo flow printed:\n${banner}\n${logs}`);
  assert.ok(logs.includes('"msg":"tether listening"'), 'the start is logged on stdout');
  // The console's address, and whom to sign in as: the demo user is an admin.
  const consoleLine = /Operator console: (http:\/\/\S+\/console\/) \(.*the demo user demo\)/.exec(banner);
  assert.ok(consoleLine, `the banner names the console:\n${banner}`);
  assert.is((await fetch(consoleLine![1])).status, 200, 'the console answers at that address');

  const secret = readFileSync(join(dataDir, 'jwt-secret'));
  assert.ok(secret.length >= 32, `jwt-secret holds ${secret.length} bytes`);
  const credentialsFile = join(dataDir, 'demo-credentials.json');
  assert.ok(existsSync(credentialsFile));
  assert.is(statSync(credentialsFile).mode & 0o777, 0o600, 'the credentials file is readable by its owner only');
  const demo = JSON.parse(readFileSync(credentialsFile, 'utf8')) as Record<string, string>;
  for (const field of ['client_id', 'client_secret', 'login', 'password']) assert.type(demo[field], 'string', field);
  assert.is(demo.login, 'demo');

  // The printed flow, run by a shell as a user would paste it (curl and sed).
  const flow = banner.slice(banner.indexOf(flowMarker)).split('\n').slice(1).join('\n').trim();
  assert.ok(flow.includes(demo.client_id) && flow.includes(demo.password), 'the flow carries the credentials');
  const ran = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile('bash', ['-c', flow], { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as NodeJS.ErrnoException).code ?? 1) : 0, stdout, stderr })),
  );
  assert.is(ran.code, 0, ran.stderr);
  // curl prints each answer without a newline: the two JSON-RPC answers come back to back.
  const answers = ran.stdout.trim().replace(/\}\s*\{"jsonrpc"/g, '}\n{"jsonrpc"').split('\n').filter(Boolean).map((line) => JSON.parse(line));
  assert.is(answers.length, 2, `agents.list and logout answered: ${ran.stdout}`);
  assert.ok(Array.isArray(answers[0].result?.items), `agents.list: ${JSON.stringify(answers[0])}`);
  assert.is(answers[1].result?.logged_out, true, `logout: ${JSON.stringify(answers[1])}`);
});

test.run();
