// The operators' command line as a real child process: `node bin/tether.js <args>` on the stores the
// environment names (real PostgreSQL + Redis when DATABASE_URL is set, else embedded PGlite under a
// temp DATA_DIR). PGlite is single-process: a server on the same DATA_DIR is always closed before the
// CLI runs, and the database is reopened (by a fresh server) after it exits.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realStores, startTestTether, TEST_JWT_SECRET, type TestTether } from './support/tether.ts';
import { clientHeaders, tokenFor, unique } from './support/fixtures.ts';
import { FIGURES, testIn } from './support/modes.ts';
import { runCli } from './support/child.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), 'tether-cli-'));

const cliEnv: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'debug', NO_COLOR: '1' };
if (realStores) cliEnv.JWT_SECRET = TEST_JWT_SECRET;
else for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET']) delete cliEnv[name];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

// 120 s: an embedded CLI run (PGlite start) took over 30 s on a loaded 2-core machine.
const cli = (args: string[], stdin = '', env: NodeJS.ProcessEnv = cliEnv): Promise<Run> => runCli(args, env, stdin, 120_000);

const show = (r: Run) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** --json: stdout is exactly one JSON object (one line), nothing else. */
function jsonOf(r: Run): any {
  const text = r.stdout.trim();
  assert.ok(text.length > 0, `nothing on stdout\n${show(r)}`);
  assert.not.ok(text.includes('\n'), `more than one line on stdout\n${show(r)}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    assert.unreachable(`stdout is not JSON\n${show(r)}`);
  }
  assert.type(value, 'object');
  assert.ok(value !== null && !Array.isArray(value), 'one JSON object');
  return value;
}

function ok(r: Run): any {
  assert.is(r.code, 0, show(r));
  const out = jsonOf(r);
  assert.is(out.ok, true, show(r));
  return out;
}

/** An explained failure: exit 1, a message on stderr, no usage text. */
function failure(r: Run, message: string) {
  assert.is(r.code, 1, show(r));
  assert.ok(r.stderr.includes(message), `stderr should say ${JSON.stringify(message)}\n${show(r)}`);
  assert.not.ok(r.stderr.includes('usage: tether'), show(r));
}

/** Bad usage: exit 2, one line on stderr (what is wrong and which --help to read), not the whole usage. */
function usage(r: Run, message?: string) {
  assert.is(r.code, 2, show(r));
  assert.is(r.stderr.trim().split('\n').length, 1, `one line on stderr\n${show(r)}`);
  assert.match(r.stderr, /\(tether [a-z -]*--help shows the usage\)/, show(r));
  assert.not.ok(r.stderr.includes('usage: tether'), show(r));
  if (message) assert.ok(r.stderr.includes(message), show(r));
}

async function withServer<T>(work: (t: TestTether) => Promise<T>): Promise<T> {
  const t = await startTestTether({ DATA_DIR: dataDir });
  try {
    return await work(t);
  } finally {
    await t.close();
  }
}

const alice = { login: unique('alice'), password: `pw ${unique('a')} with spaces` };
const bob = { login: unique('bob'), password: unique('bobpw') };
let adminClient: { id: string; secret: string };
let spareClient: { id: string; secret: string };
let spareToken: string;
let sessionsOf: { a1: string; a2: string; a3: string; a4: string; b: string; headers: Record<string, string>; bobHeaders: Record<string, string> };

test.after(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

test('bad usage exits 2 with one line and a pointer to --help on stderr, nothing on stdout', async () => {
  // These fail before any store is opened, so they may run side by side.
  const [unknown, none, badFlag, asJson] = await Promise.all([cli(['frobnicate']), cli([]), cli(['users', 'list', '--no-such-flag']), cli(['frobnicate', '--json'])]);
  usage(unknown, 'unknown command: frobnicate');
  assert.is(unknown.stdout, '');
  usage(none, 'a command is required');
  usage(badFlag, 'no-such-flag');
  // --json: still exactly one JSON object on stdout, saying what went wrong.
  usage(asJson);
  const out = jsonOf(asJson);
  assert.is(out.ok, false);
  assert.ok(String(out.error).includes('frobnicate'));
});

test('--help, -h and help print the usage on stdout and exit 0, opening no store', async () => {
  // Stores that cannot be reached and a configuration that would be refused: help answers anyway.
  const broken = { ...cliEnv, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', JWT_SECRET: '' };
  const runs = await Promise.all([cli(['--help'], '', broken), cli(['-h'], '', broken), cli(['help'], '', broken)]);
  for (const r of runs) {
    assert.is(r.code, 0, show(r));
    assert.ok(r.stdout.startsWith('usage: tether <command>'), show(r));
    for (const line of ['sessions revoke --id N', '--session-id-stdin', 'demo']) assert.ok(r.stdout.includes(line), `usage mentions ${line}\n${show(r)}`);
    assert.is(r.stderr, '', show(r));
  }
  const asJson = await cli(['help', '--json'], '', broken);
  const out = ok(asJson);
  assert.ok(String(out.usage).startsWith('usage: tether <command>'));
});

test('configuration errors exit 2, unreachable stores exit 1, each explained on stderr', async () => {
  const unreachable = { ...cliEnv, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', JWT_SECRET: TEST_JWT_SECRET };
  const noSecret = { ...cliEnv, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', JWT_SECRET: '' };
  const [down, misconfigured] = await Promise.all([cli(['users', 'list', '--json'], '', unreachable), cli(['users', 'list', '--json'], '', noSecret)]);
  failure(down, 'cannot open the stores');
  assert.is(jsonOf(down).ok, false);
  usage(misconfigured, 'JWT_SECRET is required');
  assert.is(jsonOf(misconfigured).ok, false);
});

test('migrate --json: one JSON object on stdout, logs on stderr only' + FIGURES, async () => {
  const r = await cli(['migrate', '--json']);
  assert.equal(ok(r), { ok: true, migrated: true });
  // Embedded on a fresh DATA_DIR: this run applied the migrations, and said so on stderr.
  if (!realStores) assert.ok(r.stderr.includes('migrations applied'), show(r));
});

test('users add --password-stdin: the password is read from a pipe; mistakes are explained', async () => {
  const r = await cli(['users', 'add', '--login', alice.login, '--name', 'Alice Admin', '--admin', '--password-stdin', '--json'], alice.password + '\n');
  const out = ok(r);
  assert.is(out.user.login, alice.login);
  assert.is(out.user.name, 'Alice Admin');
  assert.is(out.user.is_admin, true);
  assert.type(out.user.id, 'number');
  assert.not.ok(r.stdout.includes(alice.password) || r.stderr.includes(alice.password), 'the password is never printed');

  // Without --json: a sentence for a human.
  const plain = await cli(['users', 'add', '--login', bob.login, '--name', 'Bob', '--password-stdin'], bob.password);
  assert.is(plain.code, 0, show(plain));
  assert.ok(plain.stdout.includes(`user ${bob.login} created`), show(plain));

  failure(await cli(['users', 'add', '--login', bob.login.toUpperCase(), '--password-stdin'], 'another-password'), 'already exists');
  failure(await cli(['users', 'add', '--login', unique('short'), '--password-stdin'], 'short\n'), 'at least 8 characters');
  failure(await cli(['users', 'add', '--login', unique('common'), '--password-stdin'], 'Password1\n'), 'password refused (common)');
  failure(await cli(['users', 'add', '--login', unique('long'), '--password-stdin'], 'x'.repeat(257)), 'password refused (max_length)');
  usage(await cli(['users', 'add', '--login', unique('nopw')]), '--password-stdin');
});

test('users list --json: exactly one JSON object with the users, no password hashes' + FIGURES, async () => {
  const r = await cli(['users', 'list', '--json']);
  const out = ok(r);
  assert.ok(Array.isArray(out.users));
  const a = out.users.find((u: { login: string }) => u.login === alice.login);
  const b = out.users.find((u: { login: string }) => u.login === bob.login);
  assert.ok(a && b, show(r));
  assert.is(a.is_admin, true);
  assert.is(a.is_active, true);
  assert.is(b.is_admin, false);
  assert.is(b.is_active, true);
  assert.is(b.name, 'Bob');
  assert.not.ok(r.stdout.includes('password') || r.stdout.includes('$argon2'), 'no password hash');
  if (!realStores) assert.is(out.users.length, 2);
});

test('clients add --scopes admin --json prints the secret once; clients list never shows it', async () => {
  const name = unique('ops-client');
  const out = ok(await cli(['clients', 'add', '--name', name, '--scopes', 'admin', '--json']));
  assert.is(out.client.name, name);
  assert.equal(out.client.scopes, ['admin']);
  assert.type(out.client.id, 'string');
  assert.type(out.client_secret, 'string');
  assert.ok(out.client_secret.length >= 32);
  // RFC 7591's names at the top level, beside the client object.
  assert.is(out.client_id, out.client.id);
  adminClient = { id: out.client_id, secret: out.client_secret };

  const spare = ok(await cli(['clients', 'add', '--name', unique('spare'), '--json']));
  assert.equal(spare.client.scopes, []);
  spareClient = { id: spare.client.id, secret: spare.client_secret };
  assert.is.not(spareClient.secret, adminClient.secret);

  const r = await cli(['clients', 'list', '--json']);
  const list = ok(r);
  const row = list.clients.find((c: { id: string }) => c.id === adminClient.id);
  assert.ok(row, show(r));
  assert.is(row.name, name);
  assert.ok(String(row.scopes).includes('admin'));
  assert.is(row.is_active, true);
  assert.ok(list.clients.some((c: { id: string }) => c.id === spareClient.id));
  for (const c of list.clients) {
    for (const key of Object.keys(c)) assert.not.ok(/secret/i.test(key), `clients list shows ${key}`);
  }
  assert.not.ok(r.stdout.includes(adminClient.secret) || r.stdout.includes(spareClient.secret), 'no secret in clients list');
});

test('a server on the same stores accepts what the CLI made: the client secret, the piped password, the admin flag', async () => {
  await withServer(async (t) => {
    const token = await tokenFor(t, adminClient);
    spareToken = await tokenFor(t, spareClient);
    const headers = clientHeaders(token);
    const login = async (user: { login: string; password: string }, h: Record<string, string>) => {
      const res = await t.rpc('users.login', { login: user.login, password: user.password }, h);
      assert.ok(res.body?.result?.session_id, res.text);
      return res.body.result.session_id as string;
    };
    const a1 = await login(alice, headers);
    const a2 = await login(alice, headers);
    const bobHeaders = clientHeaders(spareToken);
    const b = await login(bob, bobHeaders);
    const a3 = await login(alice, headers);
    const a4 = await login(alice, headers);
    sessionsOf = { a1, a2, a3, a4, b, headers, bobHeaders };
    // The trailing newline of the pipe is not part of the password.
    const wrong = await t.rpc('users.login', { login: bob.login, password: bob.password + '\n' }, bobHeaders);
    assert.is(wrong.body.error.message, 'Invalid credentials');
    // --admin and --scopes admin: alice's session on that client may call admin.*.
    const stats = await t.rpc('admin.stats', { session_id: a1 }, headers);
    assert.type(stats.body.result?.active_sessions, 'number', stats.text);
    assert.ok((await t.rpc('me', { session_id: b }, bobHeaders)).body.result, 'bob works before');
  });
});

test('sessions list --json: the active sessions, filtered by --user; no session ids or tokens' + FIGURES, async () => {
  const r = await cli(['sessions', 'list', '--json']);
  const all = ok(r);
  const mine = all.sessions.filter((x: { login: string }) => x.login === alice.login || x.login === bob.login);
  assert.is(mine.length, 5, show(r));
  if (!realStores) assert.is(all.sessions.length, 5);
  for (const sid of [sessionsOf.a1, sessionsOf.a2, sessionsOf.a3, sessionsOf.a4, sessionsOf.b]) assert.not.ok(r.stdout.includes(sid), 'no raw session id');
  assert.not.ok(/security_token|session_hash/.test(r.stdout), show(r));

  const onlyAlice = ok(await cli(['sessions', 'list', '--user', alice.login, '--json']));
  assert.is(onlyAlice.sessions.length, 4);
  for (const x of onlyAlice.sessions) {
    assert.is(x.login, alice.login);
    assert.is(x.client_id, adminClient.id);
    assert.is(x.user_agent, 'TestClient/1.0');
  }
});

test('sessions list (text): a header line names the columns, then one line per session; EXPIRES_AT is the idle deadline, ABSOLUTE_EXPIRES_AT the end', async () => {
  const r = await cli(['sessions', 'list', '--user', alice.login]);
  assert.is(r.code, 0, show(r));
  const lines = r.stdout.trim().split('\n');
  const header = lines[0].split('\t');
  assert.equal(header, ['ID', 'LOGIN', 'CLIENT_ID', 'IP', 'USER_AGENT', 'LOGIN_AT', 'LAST_ACTIVITY', 'EXPIRES_AT', 'ABSOLUTE_EXPIRES_AT']);
  assert.is(lines.length, 5, show(r));
  for (const line of lines.slice(1)) {
    const cells = Object.fromEntries(line.split('\t').map((v, i) => [header[i], v]));
    assert.match(cells.ID, /^\d+$/);
    assert.is(cells.LOGIN, alice.login);
    // The defaults: idle 7200 s, absolute 86400 s. EXPIRES_AT is what the API's expires_at says.
    const at = (name: string) => Date.parse(cells[name]);
    assert.is(at('EXPIRES_AT'), Math.min(at('LAST_ACTIVITY') + 7200_000, at('ABSOLUTE_EXPIRES_AT')), line);
    assert.ok(Math.abs(at('ABSOLUTE_EXPIRES_AT') - at('LOGIN_AT') - 86_400_000) < 5000, line);
  }
});

/** The numeric id sessions list shows for a session of alice's, by its order of login. */
async function aliceRowIds(): Promise<number[]> {
  const out = ok(await cli(['sessions', 'list', '--user', alice.login, '--json']));
  return out.sessions.map((x: { id: number }) => x.id).sort((a: number, b: number) => a - b);
}

test('sessions revoke --id N ends the session sessions list shows with that id; bad ids are explained', async () => {
  const before = await aliceRowIds();
  assert.is(before.length, 4);
  // a3 is alice's third login: the third id.
  const id = before[2];
  const out = ok(await cli(['sessions', 'revoke', '--id', String(id), '--json']));
  assert.equal(out, { ok: true, revoked: true, id });
  assert.equal(await aliceRowIds(), before.filter((x) => x !== id));

  failure(await cli(['sessions', 'revoke', '--id', String(id)]), `no active session with id ${id}`);
  usage(await cli(['sessions', 'revoke', '--id=-3']), '--id takes the numeric id');
  usage(await cli(['sessions', 'revoke', '--id', String(before[3]), sessionsOf.a4]), 'one of --id N');
});

test('sessions revoke --session-id-stdin: the raw id from a pipe, never on the command line or in the output', async () => {
  const r = await cli(['sessions', 'revoke', '--session-id-stdin', '--json'], sessionsOf.a4 + '\n');
  const out = ok(r);
  assert.is(out.revoked, true);
  assert.ok(sessionsOf.a4.startsWith(out.session));
  assert.not.ok(r.stdout.includes(sessionsOf.a4) || r.stderr.includes(sessionsOf.a4), 'the whole session id is never printed');
  failure(await cli(['sessions', 'revoke', '--session-id-stdin'], sessionsOf.a4), 'no active session');
  usage(await cli(['sessions', 'revoke', '--session-id-stdin', sessionsOf.a2], ''), 'not both');
  assert.is((await aliceRowIds()).length, 2, 'a1 and a2 remain (a1 until the next test)');
});

test('sessions doctor --session-id-stdin: the verdict for a piped session id (exit 1 for an ended one)', async () => {
  const r = await cli(['sessions', 'doctor', '--session-id-stdin', '--json'], sessionsOf.a4 + '\n');
  assert.is(r.code, 1, show(r));
  const out = jsonOf(r);
  assert.is(out.verdict.valid, false, show(r));
  assert.not.ok(r.stdout.includes(sessionsOf.a4) || r.stderr.includes(sessionsOf.a4), 'the whole session id is never printed');
  const alive = await cli(['sessions', 'doctor', '--session-id-stdin', '--ua', 'TestClient/1.0', '--ip', '127.0.0.1', '--lang', 'en-US'], sessionsOf.a2);
  assert.ok(alive.stdout.includes('verdict:'), show(alive));
  assert.not.ok(alive.stdout.includes(sessionsOf.a2), 'the whole session id is never printed');
});

test('sessions revoke <session_id> ends exactly that session; unknown or malformed ids are explained failures', async () => {
  const r = await cli(['sessions', 'revoke', sessionsOf.a1, '--json']);
  const out = ok(r);
  assert.is(out.revoked, true);
  assert.ok(sessionsOf.a1.startsWith(out.session), 'names the session by its prefix');
  assert.ok(out.session.length < 20);
  assert.not.ok(r.stdout.includes(sessionsOf.a1) || r.stderr.includes(sessionsOf.a1), 'the whole session id is never printed');

  failure(await cli(['sessions', 'revoke', sessionsOf.a1]), 'no active session');
  failure(await cli(['sessions', 'revoke', 'too-short']), 'not a session_id');
});

test('users disable L ends all their sessions; an unknown login exits 1 with the reason on stderr', async () => {
  const out = ok(await cli(['users', 'disable', bob.login, '--json']));
  assert.is(out.user.login, bob.login);
  assert.is(out.user.is_active, false);
  assert.is(out.sessions_ended, 1);

  const unknown = await cli(['users', 'disable', unique('nobody'), '--json']);
  failure(unknown, 'no user with login');
  const said = jsonOf(unknown);
  assert.is(said.ok, false);
  assert.ok(String(said.error).includes('no user with login'));
});

test('clients revoke ID disables the client; an unknown id exits 1', async () => {
  const out = ok(await cli(['clients', 'revoke', spareClient.id, '--json']));
  assert.equal(out.client, { id: spareClient.id, is_active: false });
  failure(await cli(['clients', 'revoke', 'no-such-client-id']), 'no client');
});

test('after the CLI: the server refuses what it ended, and the rows say why', async () => {
  await withServer(async (t) => {
    const { a1, a2, b, headers, bobHeaders } = sessionsOf;
    const revoked = await t.rpc('me', { session_id: a1 }, headers);
    assert.is(revoked.body.error?.message, 'Session required', revoked.text);
    assert.is(revoked.body.error.data.error_code, 'SESSION_REQUIRED');
    const kept = await t.rpc('me', { session_id: a2 }, headers);
    assert.ok(kept.body.result, `the other session lives on: ${kept.text}`);
    for (const ended of [sessionsOf.a3, sessionsOf.a4]) {
      const res = await t.rpc('me', { session_id: ended }, headers);
      assert.is(res.body.error?.message, 'Session required', `revoked by --id / --session-id-stdin: ${res.text}`);
    }

    // Bob's session ended with him; checked with a fresh token from a working client, so only the session is judged.
    const bobSession = await t.rpc('me', { session_id: b }, headers);
    assert.is(bobSession.body.error?.message, 'Session required', bobSession.text);
    const bobLogin = await t.odoo('users/login', { login: bob.login, password: bob.password }, headers);
    assert.is(bobLogin.status, 403, bobLogin.text);
    assert.is(bobLogin.body.error.message, 'User inactive');
    assert.is(bobLogin.body.error.data.error_code, 'USER_INACTIVE');

    // The revoked client's token and secret are refused.
    const old = await t.rpc('users.login', { login: alice.login, password: alice.password }, bobHeaders);
    assert.is(old.body.error?.message, 'Token has been revoked', old.text);
    const fresh = await fetch(`${t.url}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'client_credentials', client_id: spareClient.id, client_secret: spareClient.secret }),
    });
    assert.is(fresh.status, 401);
    assert.not.ok(((await fresh.json()) as { access_token?: string }).access_token);

    const sql = t.services.db.sql;
    const rows = await sql`
      select u.login, s.is_active, s.end_reason from api_sessions s join users u on u.id = s.user_id
       where u.login in ${sql([alice.login, bob.login])} order by s.id`;
    assert.equal(
      rows.map((r) => [r.login, r.is_active, r.end_reason]),
      [
        [alice.login, false, 'revoked'],
        [alice.login, true, null],
        [bob.login, false, 'user_disabled'],
        [alice.login, false, 'revoked'],
        [alice.login, false, 'revoked'],
      ],
    );
    const [bobRow] = await sql`select is_active from users where login = ${bob.login}`;
    assert.is(bobRow.is_active, false);
    const [spareRow] = await sql`select is_active from oauth_clients where id = ${spareClient.id}`;
    assert.is(spareRow.is_active, false);
  });
});

// ------------------------------------------------------------------------------------------ demo

test('demo: makes the demo client (scope admin) and admin user once, prints their credentials; a server accepts them', async () => {
  // Real stores outlive a run: a user demo made by an earlier run (another DATA_DIR) has a password
  // this DATA_DIR does not keep. Never reset silently: refused, then reset only when asked.
  let attempt = await cli(['demo', '--json']);
  if (realStores && attempt.code === 1) {
    assert.ok(attempt.stderr.includes('--reset-password'), show(attempt));
    attempt = await cli(['demo', '--reset-password', '--json']);
  }
  const first = ok(attempt);
  for (const key of ['client_id', 'client_secret', 'login', 'password']) assert.type(first[key], 'string');
  assert.is(first.login, 'demo');
  assert.equal(first.scopes, ['admin']);
  assert.ok(first.created.client, 'a fresh DATA_DIR keeps no credentials: a client is made');
  // Again: nothing new, the same credentials.
  const again = ok(await cli(['demo', '--json']));
  assert.equal(again.created, { client: false, user: false, password_reset: false });
  for (const key of ['client_id', 'client_secret', 'login', 'password']) assert.is(again[key], first[key]);
  // Text: the credentials and the curl flow.
  const text = await cli(['demo']);
  assert.is(text.code, 0, show(text));
  assert.ok(text.stdout.includes(`client_id:     ${first.client_id}`), show(text));
  assert.ok(text.stdout.includes('curl -s http://127.0.0.1:'), show(text));
  assert.ok(text.stdout.includes('/api/v1/auth/token'), show(text));

  await withServer(async (t) => {
    const headers = clientHeaders(await tokenFor(t, { id: first.client_id, secret: first.client_secret }));
    const login = await t.rpc('users.login', { login: first.login, password: first.password }, headers);
    assert.ok(login.body?.result?.session_id, login.text);
    assert.is(login.body.result.user.is_admin, true);
    const stats = await t.rpc('admin.stats', { session_id: login.body.result.session_id }, headers);
    assert.type(stats.body.result?.active_sessions, 'number', stats.text);
  });
});

/** Starts `make run`'s entry point on these stores, reads its banner, stops it. */
async function banner(env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], { cwd: ROOT, env: { ...env, PORT: '0', LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('close', resolve));
  const deadline = Date.now() + 60_000;
  while (!/Tether is listening[\s\S]*\n\n/.test(stderr) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGTERM');
  await exited;
  return stderr;
}

test('make run: prints the demo flow when DATA_DIR keeps working credentials', async () => {
  const withDemo = await banner(cliEnv);
  assert.ok(withDemo.includes('The whole flow with the demo client and user'), withDemo);
  assert.ok(withDemo.includes('/api/v1/auth/token'), withDemo);
});

// Embedded: a first start makes the demo itself, so there is no start without credentials to show.
testIn(test, 'real', 'make run on real stores without kept demo credentials prints the command that makes them, no flow', async () => {
  const emptyDir = mkdtempSync(join(tmpdir(), 'tether-cli-nodemo-'));
  try {
    const without = await banner({ ...cliEnv, DATA_DIR: emptyDir });
    assert.ok(without.includes('npx tether demo'), without);
    assert.not.ok(without.includes('/api/v1/auth/token'), 'no flow without credentials');
  } finally {
    rmSync(emptyDir, { recursive: true, force: true });
  }
});

test.run();
