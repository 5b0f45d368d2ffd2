// The command line as an operator meets it: help per command, usage errors of one line, stray
// arguments and unknown scopes refused, a revoked client enabled again, every change audited (an
// api_access_log row naming the actor `cli:<os user>` and the target, and a [CLI] log line), the demo
// (credentials kept per store, a password never reset silently, a replaced demo client revoked), and
// `npx tether` running the checkout's bin without npm installing the package into its npx cache.
// Real child processes (`node bin/tether.js`) on the stores the environment names; PGlite is
// single-process, so a server on the same DATA_DIR is closed before the command line runs.
import { test } from 'uvu';
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { realStores, startTestTether, TEST_JWT_SECRET, type TestTether } from './support/tether.ts';
import { clientHeaders, tokenFor, unique } from './support/fixtures.ts';
import { testIn } from './support/modes.ts';
import { runProcess } from './support/child.ts';
import { startThrowawayRedis } from './support/throwaway.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'tether-cli-operator-'));
const ACTOR = `cli:${userInfo().username}`;

function envFor(dir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dir, NO_COLOR: '1', LOG_LEVEL: 'warn', ...extra };
  if (realStores) env.JWT_SECRET = TEST_JWT_SECRET;
  else for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET']) delete env[name];
  return env;
}
const cliEnv = envFor(dataDir);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

// 120 s: an embedded CLI run (PGlite start) took over 30 s on a loaded 2-core machine.
const run = (file: string, args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<Run> => runProcess(file, args, env, stdin, 120_000);
const cli = (args: string[], stdin = '', env = cliEnv) => run(process.execPath, ['bin/tether.js', ...args], env, stdin);
const show = (r: Run) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

function ok(r: Run): any {
  assert.is(r.code, 0, show(r));
  return JSON.parse(r.stdout.trim());
}

/** Exit 2 and one line on stderr: the fault, then which --help to read. */
function usage(r: Run, message: string, pointer: string) {
  assert.is(r.code, 2, show(r));
  assert.is(r.stderr.trim().split('\n').length, 1, `one line\n${show(r)}`);
  assert.ok(r.stderr.includes(message), `says ${JSON.stringify(message)}\n${show(r)}`);
  assert.ok(r.stderr.includes(`(${pointer} shows the usage)`), `points at ${pointer}\n${show(r)}`);
  assert.is(r.stdout, '');
}

async function withServer<T>(dir: string, work: (t: TestTether) => Promise<T>, extra: Record<string, string> = {}): Promise<T> {
  const t = await startTestTether({ DATA_DIR: dir, ...extra });
  try {
    return await work(t);
  } finally {
    await t.close();
  }
}

// The demo tests, on real stores, get a database and a Redis of their own: the user `demo`
// is one per database, and cli.test.ts makes and resets it on the shared one at the same time.
let demoStores: Record<string, string> = {};
let dropDemoDatabase = async () => {};
test.before(async () => {
  if (!realStores) return;
  const name = `cli_demo_${randomBytes(4).toString('hex')}`;
  const admin = postgres(process.env.DATABASE_URL as string, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const db = new URL(process.env.DATABASE_URL as string);
  db.pathname = `/${name}`;
  // A Redis of its own too: user:<id> keys are per database, and this database's ids start at 1.
  const redis = await startThrowawayRedis();
  demoStores = { DATABASE_URL: db.toString(), REDIS_URL: redis.url };
  dropDemoDatabase = async () => {
    await admin.unsafe(`drop database if exists ${name} with (force)`).catch(() => {});
    await admin.end({ timeout: 5 });
    await redis.stop();
  };
});
const demoEnvFor = (dir: string) => envFor(dir, demoStores);

test.after(async () => {
  rmSync(dataDir, { recursive: true, force: true });
  await dropDemoDatabase();
});

test('per-command help: `tether users add --help` prints that command, `tether clients --help` its group; no store opened', async () => {
  const broken = { ...cliEnv, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', JWT_SECRET: '' };
  const [add, group, setScopes, all] = await Promise.all([
    cli(['users', 'add', '--help'], '', broken),
    cli(['clients', '--help'], '', broken),
    cli(['clients', 'set-scopes', '-h'], '', broken),
    cli(['--help'], '', broken),
  ]);
  for (const r of [add, group, setScopes, all]) assert.is(r.code, 0, show(r));
  assert.ok(add.stdout.startsWith('usage: tether users add --login L [--name N] [--admin] --password-stdin'), show(add));
  assert.ok(add.stdout.includes('The password:'), show(add));
  assert.not.ok(add.stdout.includes('sessions doctor'), 'one command, not the whole usage');
  assert.ok(group.stdout.startsWith('usage: tether clients <command>'), show(group));
  for (const name of ['clients add', 'clients list', 'clients revoke', 'clients enable', 'clients set-scopes']) assert.ok(group.stdout.includes(name), `${name}\n${show(group)}`);
  assert.not.ok(group.stdout.includes('users add'), show(group));
  assert.ok(setScopes.stdout.includes('known scopes: admin'), show(setScopes));
  assert.ok(all.stdout.includes('clients enable ID') && all.stdout.includes('demo [--reset-password]'), show(all));
});

test('usage errors: one line naming the fault and the --help to read; stray arguments and options are refused', async () => {
  // All refused before any store is opened, so they may run side by side.
  const cases: [string[], string, string][] = [
    [['users', 'list', 'extra'], 'users list takes no arguments: "extra"', 'tether users list --help'],
    [['users', 'list', '--admin'], 'users list does not take --admin', 'tether users list --help'],
    [['clients', 'revoke'], 'clients revoke needs ID', 'tether clients revoke --help'],
    [['clients', 'revoke', 'a', 'b'], 'clients revoke takes at most 1 argument: "b"', 'tether clients revoke --help'],
    [['users', 'disable', 'alice', '--scopes', 'admin'], 'users disable does not take --scopes', 'tether users disable --help'],
    [['demo', 'now'], 'demo takes no arguments', 'tether demo --help'],
    [['users', 'add', '--login'], 'option --login needs a value', 'tether users add --help'],
    [['users', 'list', '--no-such-flag'], 'unknown option --no-such-flag', 'tether users list --help'],
    [['users', 'frob'], 'unknown users command: frob', 'tether users --help'],
    [['sessions'], 'sessions needs a command: list, revoke, doctor', 'tether sessions --help'],
    [['frobnicate'], 'unknown command: frobnicate', 'tether --help'],
  ];
  const runs = await Promise.all(cases.map(([args]) => cli(args)));
  runs.forEach((r, i) => usage(r, cases[i][1], cases[i][2]));
});

test('unknown scope names are refused (exit 2) by clients set-scopes and clients add; nothing changes', async () => {
  const made = ok(await cli(['clients', 'add', '--name', unique('scoped'), '--scopes', 'admin', '--json']));
  const [typo, addTypo] = await Promise.all([cli(['clients', 'set-scopes', made.client_id, 'admn']), cli(['clients', 'add', '--name', 'typo', '--scopes', 'admin admn'])]);
  usage(typo, 'unknown scope "admn" (known: admin)', 'tether clients set-scopes --help');
  usage(addTypo, 'unknown scope "admn"', 'tether clients add --help');
  const list = ok(await cli(['clients', 'list', '--json']));
  assert.is(list.clients.find((c: { id: string }) => c.id === made.client_id).scopes, 'admin', 'the scopes are unchanged');
  assert.not.ok(list.clients.some((c: { name: string }) => c.name === 'typo'), 'no client made');
  // Known names still pass, and "" still means none.
  assert.equal(ok(await cli(['clients', 'set-scopes', made.client_id, '', '--json'])).client.scopes, []);
  assert.equal(ok(await cli(['clients', 'set-scopes', made.client_id, 'admin', '--json'])).client.scopes, ['admin']);
});

test('clients enable ID: a revoked client gets tokens again; an unknown id exits 1', async () => {
  const made = ok(await cli(['clients', 'add', '--name', unique('again'), '--json']));
  ok(await cli(['clients', 'revoke', made.client_id, '--json']));
  const token = (t: TestTether) =>
    fetch(`${t.url}/api/v1/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials', client_id: made.client_id, client_secret: made.client_secret }) });
  await withServer(dataDir, async (t) => assert.is((await token(t)).status, 401, 'revoked: refused'));
  const enabled = ok(await cli(['clients', 'enable', made.client_id, '--json']));
  assert.equal(enabled.client, { id: made.client_id, is_active: true });
  await withServer(dataDir, async (t) => {
    const res = await token(t);
    assert.is(res.status, 200, 'enabled: a token again');
    const headers = clientHeaders(((await res.json()) as { access_token: string }).access_token);
    assert.ok((await t.rpc('system.ping', {}, headers)).body.result);
  });
  const unknown = await cli(['clients', 'enable', 'no-such-client']);
  assert.is(unknown.code, 1, show(unknown));
  assert.ok(unknown.stderr.includes('no client no-such-client'), show(unknown));
});

test('every operator change is audited: an api_access_log row with actor cli:<os user> and the target, and a [CLI] log line', async () => {
  const login = unique('audited');
  const runs: Record<string, Run> = {};
  runs.add = await cli(['users', 'add', '--login', login, '--password-stdin', '--json'], `pw ${unique('x')} long enough`);
  ok(runs.add);
  runs.setAdmin = await cli(['users', 'set-admin', login, 'true']);
  runs.disable = await cli(['users', 'disable', login]);
  const client = ok((runs.client = await cli(['clients', 'add', '--name', unique('audited'), '--json'])));
  runs.scopes = await cli(['clients', 'set-scopes', client.client_id, 'admin']);
  runs.revoke = await cli(['clients', 'revoke', client.client_id]);
  runs.enable = await cli(['clients', 'enable', client.client_id]);
  runs.missing = await cli(['users', 'enable', `${login}_missing`]);
  for (const [name, r] of Object.entries(runs)) assert.is(r.code, name === 'missing' ? 1 : 0, `${name}: ${show(r)}`);

  // The log line: on stderr (LOG_LEVEL is warn here: the line is written anyway), naming actor and target.
  const lineOf = (r: Run) => r.stderr.split('\n').filter((l) => l.includes('[CLI]')).map((l) => JSON.parse(l));
  const [disableLine] = lineOf(runs.disable);
  assert.ok(disableLine, `a [CLI] line\n${show(runs.disable)}`);
  assert.is(disableLine.msg, '[CLI] users disable');
  assert.is(disableLine.actor, ACTOR);
  assert.is(disableLine.target, login);
  assert.is(disableLine.method, 'cli.users.disable');
  assert.match(disableLine.request_id, /^cli_[0-9a-f]{16}$/);
  assert.is(lineOf(runs.missing)[0]?.msg, '[CLI] users enable refused', show(runs.missing));
  assert.not.ok(JSON.stringify(lineOf(runs.add)).includes('long enough'), 'never the password');

  await withServer(dataDir, async (t) => {
    const rows = await t.services.db.sql<{ method: string; actor: string; target_id: string; status: number; error_code: string | null; user_id: number | null; client_id: string | null; reason: string | null; request_id: string }[]>`
      select method, actor, target_id, status, error_code, user_id::int as user_id, client_id, reason, request_id from api_access_log
       where actor is not null and (target_id in (${login}, ${`${login}_missing`}, ${client.client_id})) order by id`;
    assert.equal(
      rows.map((r) => [r.method, r.actor, r.target_id, r.status, r.error_code]),
      [
        ['cli.users.add', ACTOR, login, 200, null],
        ['cli.users.set-admin', ACTOR, login, 200, null],
        ['cli.users.disable', ACTOR, login, 200, null],
        ['cli.clients.add', ACTOR, client.client_id, 200, null],
        ['cli.clients.set-scopes', ACTOR, client.client_id, 200, null],
        ['cli.clients.revoke', ACTOR, client.client_id, 200, null],
        ['cli.clients.enable', ACTOR, client.client_id, 200, null],
        ['cli.users.enable', ACTOR, `${login}_missing`, 404, 'NOT_FOUND'],
      ],
    );
    const [user] = await t.services.db.sql<{ id: number }[]>`select id::int as id from users where login = ${login}`;
    assert.is(rows[2].user_id, user.id);
    assert.is(rows[4].reason, 'admin', 'the scopes set');
    assert.is(rows[2].request_id, disableLine.request_id, 'the row and the line share the request id');
    // The client's rows carry its id (as an admin call's row does).
    assert.is(rows.filter((r) => r.client_id === client.client_id).length, 4);
  });
});

// ------------------------------------------------------------------------------------------ demo

test('demo never resets a password silently: without the kept password it changes nothing (exit 1); --reset-password does, and says so', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tether-cli-demo-'));
  const env = demoEnvFor(dir);
  try {
    let first = await cli(['demo', '--json'], '', env);
    if (realStores && first.code === 1) first = await cli(['demo', '--reset-password', '--json'], '', env); // a demo user from an earlier run
    const made = ok(first);
    const file = made.credentials_file as string;
    assert.ok(existsSync(file));
    unlinkSync(file); // this DATA_DIR no longer knows the password
    const clientsBefore = ok(await cli(['clients', 'list', '--json'], '', env)).clients.length;
    const refused = await cli(['demo', '--json'], '', env);
    assert.is(refused.code, 1, show(refused));
    assert.ok(refused.stderr.includes('Nothing was changed') && refused.stderr.includes('--reset-password'), show(refused));
    assert.is(JSON.parse(refused.stdout).ok, false);
    assert.not.ok(existsSync(file), 'no credentials file written');
    assert.is(ok(await cli(['clients', 'list', '--json'], '', env)).clients.length, clientsBefore, 'no client made');
    // The old password still opens the user: it was not reset.
    await withServer(dir, async (t) => {
      const headers = clientHeaders(await tokenFor(t, { id: made.client_id, secret: made.client_secret }));
      assert.ok((await t.rpc('users.login', { login: 'demo', password: made.password }, headers)).body.result?.session_id, 'the old password still works');
    }, demoStores);
    const reset = ok(await cli(['demo', '--reset-password', '--json'], '', env));
    assert.is(reset.created.password_reset, true);
    assert.is.not(reset.password, made.password);
    assert.ok(JSON.parse(readFileSync(file, 'utf8')).password === reset.password);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('demo replaces a kept client that lost its admin scope, and revokes the one it replaces', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tether-cli-demo-'));
  const env = demoEnvFor(dir);
  try {
    let first = await cli(['demo', '--json'], '', env);
    if (realStores && first.code === 1) first = await cli(['demo', '--reset-password', '--json'], '', env);
    const made = ok(first);
    ok(await cli(['clients', 'set-scopes', made.client_id, '', '--json'], '', env));
    const again = ok(await cli(['demo', '--json'], '', env));
    assert.is(again.created.client, true);
    assert.is.not(again.client_id, made.client_id);
    assert.is(again.revoked_client_id, made.client_id);
    assert.is(again.password, made.password, 'the password is kept');
    const list = ok(await cli(['clients', 'list', '--json'], '', env)).clients;
    assert.is(list.find((c: { id: string }) => c.id === made.client_id).is_active, false, 'the replaced client is revoked');
    assert.is(list.find((c: { id: string }) => c.id === again.client_id).is_active, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

testIn(test, 'real', "demo on real stores beside an embedded DATA_DIR: each store's credentials in a file of its own, the embedded file untouched", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tether-cli-demo-both-'));
  try {
    const embeddedEnv: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dir, NO_COLOR: '1', LOG_LEVEL: 'warn' };
    for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET']) delete embeddedEnv[name];
    const embedded = ok(await cli(['demo', '--json'], '', embeddedEnv));
    assert.is(embedded.credentials_file, join(dir, 'demo-credentials.json'));
    const before = readFileSync(embedded.credentials_file, 'utf8');

    let real = await cli(['demo', '--json'], '', demoEnvFor(dir));
    if (real.code === 1) real = await cli(['demo', '--reset-password', '--json'], '', demoEnvFor(dir));
    const onReal = ok(real);
    const { hostname, port, pathname } = new URL(demoStores.DATABASE_URL);
    assert.is(onReal.credentials_file, join(dir, `demo-credentials.${hostname}-${port || '5432'}-${pathname.slice(1)}.json`));
    assert.is(readFileSync(embedded.credentials_file, 'utf8'), before, "the embedded store's file is untouched");
    assert.is.not(onReal.client_id, embedded.client_id);
    // The embedded server's demo still works with its file: no new client, no password reset.
    const again = ok(await cli(['demo', '--json'], '', embeddedEnv));
    assert.equal(again.created, { client: false, user: false, password_reset: false });
    assert.is(again.password, embedded.password);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------------------------------ npx

test('npx tether runs the checkout\'s node_modules/.bin/tether: npm neither installs the package into its npx cache nor walks node_modules', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'tether-npm-cache-'));
  try {
    const r = await run('npx', ['--loglevel', 'verbose', 'tether', '--help'], { ...cliEnv, npm_config_cache: cache, npm_config_update_notifier: 'false' });
    assert.is(r.code, 0, show(r));
    assert.ok(r.stdout.startsWith('usage: tether <command>'), show(r));
    // Self-running a package's own bin made npm link the checkout into <cache>/_npx/<hash> and load
    // that tree, reading every package under node_modules (its lockfile there never lists them).
    assert.not.ok(existsSync(join(cache, '_npx')), `npx installed the package into its cache\n${show(r)}`);
    assert.not.ok(r.stderr.includes('shrinkwrap failed'), show(r));
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test.run();
