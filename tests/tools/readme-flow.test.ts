// The README's curl flow, run with bash as written: the first ```bash block under "## The whole flow,
// with curl", with only the variables the README tells a user to set (URL, CLIENT_ID, CLIENT_SECRET,
// LOGIN, PASSWORD) replaced by a live test server's. If the README drifts from the service, this fails.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realStores, startTestTether, TEST_JWT_SECRET, type TestTether } from '../support/tether.ts';
import { newClient, newUser } from '../support/fixtures.ts';

const HEADING = '## The whole flow, with curl';
const SET_BY_THE_USER = ['URL', 'CLIENT_ID', 'CLIENT_SECRET', 'LOGIN', 'PASSWORD'] as const;

let t: TestTether;
test.before(async () => {
  t = await startTestTether();
});
test.after(async () => {
  await t?.close();
});

function readmeFlow(): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf(HEADING));
  const block = /```bash\n([\s\S]*?)\n```/.exec(section);
  assert.ok(readme.includes(HEADING) && block, `README.md has a \`\`\`bash block under "${HEADING}"`);
  return block![1];
}

const quoted = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

function substitute(script: string, values: Record<(typeof SET_BY_THE_USER)[number], string>): string {
  for (const name of SET_BY_THE_USER) {
    const line = new RegExp(`^${name}=.*$`, 'm');
    assert.match(script, line, `the README sets ${name}`);
    script = script.replace(line, `${name}=${quoted(values[name])}`);
  }
  return script;
}

function bash(script: string, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', script], { timeout: 120_000, env, cwd: new URL('../..', import.meta.url).pathname }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test("the README's curl flow runs as written: token, login, a protected call, logout, the refusal after it", async () => {
  const app = await newClient(t);
  const user = await newUser(t);
  const script = substitute(readmeFlow(), { URL: t.url, CLIENT_ID: app.id, CLIENT_SECRET: app.secret, LOGIN: user.login, PASSWORD: user.password });
  const { code, stdout, stderr } = await bash(script);
  assert.is(code, 0, stderr);
  const lines = stdout.split('\n').filter(Boolean);
  const list = JSON.parse(lines[0]);
  assert.ok(Array.isArray(list.result?.items), `agents.list answered: ${lines[0]}`);
  assert.equal(JSON.parse(lines[1]).result, { logged_out: true });
  const refused = JSON.parse(lines[2]);
  assert.is(refused.error.message, 'Session required');
  assert.is(refused.error.data.error_code, 'SESSION_REQUIRED');
  assert.is(lines[3], 'HTTP 401');
  // The login really happened as the README's user: one audit-visible session for this user, now ended.
  const rows = await t.services.db.sql<{ end_reason: string | null }[]>`select end_reason from api_sessions where user_id = ${user.id}`;
  assert.equal(rows.map((r) => r.end_reason), ['logout']);
});

test('the flow stops at its first failed step with the real cause: a wrong client secret ends it at step 1 with invalid_client', async () => {
  const app = await newClient(t);
  const user = await newUser(t);
  const script = substitute(readmeFlow(), { URL: t.url, CLIENT_ID: app.id, CLIENT_SECRET: 'not-the-secret', LOGIN: user.login, PASSWORD: user.password });
  const { code, stdout, stderr } = await bash(script);
  assert.is.not(code, 0, 'a failed flow exits non-zero');
  assert.ok(stderr.includes('step 1 (token) failed') && stderr.includes('invalid_client'), stderr);
  assert.not.ok(stdout.includes('Parse error') || stderr.includes('Parse error'), `no later step ran: ${stdout}`);
  assert.is(stdout, '', 'nothing printed by the steps after it');
  const rows = await t.services.db.sql`select 1 from api_sessions where user_id = ${user.id}`;
  assert.is(rows.length, 0, 'no login was tried');
});

test('the flow against a server that is not running stops at step 1 with curl\'s own reason', async () => {
  const app = await newClient(t);
  const script = substitute(readmeFlow(), { URL: 'http://127.0.0.1:1', CLIENT_ID: app.id, CLIENT_SECRET: app.secret, LOGIN: 'x', PASSWORD: 'y' });
  const { code, stdout, stderr } = await bash(script);
  assert.is.not(code, 0);
  assert.match(stderr, /Failed to connect|Couldn't connect/, stderr);
  assert.is(stdout, '');
});

test("the README's sessions doctor example, after the README's own login (no Accept-Language), finds the session valid: no false language failure", async () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const doctorLine = readme.split('\n').find((l) => l.includes('npx tether sessions doctor --session-id-stdin'));
  assert.ok(doctorLine, 'the README has a sessions doctor example');
  // The login part of the flow (steps 1 and 2), then the session id on stdout.
  const flow = readmeFlow();
  const loginPart = flow.slice(0, flow.indexOf('# 3.')) + 'echo "$SID"\n';
  const dataDir = mkdtempSync(join(tmpdir(), 'tether-readme-doctor-'));
  const own = await startTestTether({ DATA_DIR: dataDir, SWEEP_INTERVAL: '0' });
  let closed = false;
  try {
    const app = await newClient(own);
    const user = await newUser(own);
    const login = await bash(substitute(loginPart, { URL: own.url, CLIENT_ID: app.id, CLIENT_SECRET: app.secret, LOGIN: user.login, PASSWORD: user.password }));
    assert.is(login.code, 0, login.stderr);
    const sid = login.stdout.trim();
    assert.is(sid.length, 80, login.stdout);
    // PGlite is single-process: the embedded server is closed before the command line opens its directory.
    if (!realStores) {
      await own.close();
      closed = true;
    }
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, SID: sid, LOG_LEVEL: 'warn', NO_COLOR: '1' };
    if (realStores) env.JWT_SECRET = TEST_JWT_SECRET;
    else for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET']) delete env[name];
    const command = doctorLine!.replace('npx tether', `${process.execPath} bin/tether.js`).replace(/\s+#.*$/, '');
    const doctor = await bash(command, env);
    assert.not.match(doctor.stdout, /FAIL\s+language/, doctor.stdout);
    assert.is(doctor.code, 0, `${doctor.stdout}\n${doctor.stderr}`);
    assert.match(doctor.stdout, /verdict: valid/);
    assert.match(doctor.stdout, /ok\s+language/);
  } finally {
    if (!closed) await own.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
