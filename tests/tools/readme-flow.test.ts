// The README's curl flow, run with bash as written: the first ```bash block under "## The whole flow,
// with curl", with only the variables the README tells a user to set (URL, CLIENT_ID, CLIENT_SECRET,
// LOGIN, PASSWORD) replaced by a live test server's. If the README drifts from the service, this fails.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startTestTether, type TestTether } from '../support/tether.ts';
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

function bash(script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', script], { timeout: 60_000 }, (error, stdout, stderr) => {
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

test.run();
