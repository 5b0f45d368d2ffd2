// A Python client written the way the troubleshooting guide writes its examples (tests/tools/odoo_flow.py:
// standard library only, urllib.request, JSON-RPC bodies with no id, every answer parsed as JSON), run
// against a real Tether over HTTP. Where python3 is missing the test is reported as a skip
// (tests/support/modes.ts SKIP_MARK), never a silent pass.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { newClient, newUser } from '../support/fixtures.ts';
import { SKIP_MARK } from '../support/modes.ts';

const SCRIPT = fileURLToPath(new URL('./odoo_flow.py', import.meta.url));
const NAME = "python3 + urllib.request runs the guide's flow with no id: every step answered with id null and its status; one session, ended by the logout; the token revoked by itself";
const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
const hasPython = python.status === 0;

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('python3', [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let t: TestTether;

if (!hasPython) {
  test.skip(`${NAME} (python3 not found)`, () => {});
  console.log(`${SKIP_MARK}${NAME} (python3 not found)`);
} else {
  test.before(async () => {
    t = await startTestTether();
  });
  test.after(async () => {
    await t?.close();
  });

  test(NAME, async () => {
    const client = await newClient(t);
    const user = await newUser(t);
    const out = await run([t.url, client.id, client.secret, user.login, user.password]);
    assert.is(out.code, 0, `the script ran to its end (no empty body to parse, no missing result): ${out.stderr.slice(-1500)}`);
    const { steps, session_prefix } = JSON.parse(out.stdout) as { steps: Record<string, any>; session_prefix: string };

    assert.equal(steps.token, { status: 200, token_type: 'Bearer' });
    assert.equal(steps.login, { status: 200, id: null, result_keys: ['absolute_expires_at', 'expires_at', 'idle_timeout', 'session_id', 'user'], session_id_length: 80 });
    assert.equal(steps.agents, { status: 200, id: null, result_keys: ['items', 'limit', 'next', 'offset'] });
    assert.is(steps.me.status, 200);
    assert.ok(steps.me.result_keys.includes('session'));
    const refusal = (step: any, message: string, status = 401) => {
      assert.is(step.status, status, JSON.stringify(step));
      assert.is(step.id, null);
      assert.is(step.error, message);
      assert.is(step.error_status, status);
    };
    refusal(steps.session_required, 'Session required');
    refusal(steps.format, 'Invalid session_id format (must be 60-100 characters)');
    refusal(steps.ua_mismatch, 'Session validation failed');
    assert.is(steps.with_context.status, 200, JSON.stringify(steps.with_context));
    assert.equal(steps.logout, { status: 200, id: null, result_keys: ['logged_out'] });
    refusal(steps.after_logout, 'Session required');
    assert.equal(steps.revoke, { status: 200, body: { revoked: true } });
    refusal(steps.after_revoke, 'Token has been revoked');

    // The stores agree: one session for the user, ended by the logout.
    const rows = await t.services.db.sql<{ session_hash: string; is_active: boolean; end_reason: string | null }[]>`
      select session_hash, is_active, end_reason from api_sessions where user_id = ${user.id}`;
    assert.is(rows.length, 1, 'exactly one session: the login without id was answered, not orphaned');
    assert.is(rows[0].is_active, false);
    assert.is(rows[0].end_reason, 'logout');
    assert.is(rows[0].session_hash.length, 64);
    assert.ok(
      t.logsMatching('[SESSION HIJACKING DETECTED - USER-AGENT MISMATCH]').some((l) => l.session === session_prefix),
      'the User-Agent step is logged with the session prefix, as the guide greps for',
    );
  });
}

test.run();
