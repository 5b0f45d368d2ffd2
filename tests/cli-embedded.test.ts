// Embedded mode as one system: a server child (`server/main.ts`) on a DATA_DIR, and the real command
// line (`bin/tether.js`) on the same DATA_DIR beside it. Every change the command line reports must
// be what the running server does at its next call, and still be there after a restart. The children
// always run embedded (no DATABASE_URL / REDIS_URL), whatever the stores this test file runs on.
// Also the DATA_DIR lock: a second server exits 2 naming DATA_DIR and the holder's pid; a lock left by
// a SIGKILLed server is taken over.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { embeddedEnv, eventually, rpcAt, runCli, showRun, startServer, spawnServer, stopServer, tokenAt, type CliRun, type ServerChild } from './support/child.ts';

const test = suite('cli-embedded');
const dataDir = mkdtempSync(join(tmpdir(), 'tether-cli-embedded-'));
const env = embeddedEnv(dataDir, { LOG_LEVEL: 'info' });
const UA = 'EmbeddedTest/1.0';
const LANG = 'en-US';

let server: ServerChild;
let demo: { client_id: string; client_secret: string; login: string; password: string };

const cli = (args: string[], stdin = '') => runCli(args, env, stdin);
function ok(r: CliRun): any {
  assert.is(r.code, 0, showRun(r));
  return JSON.parse(r.stdout.trim());
}
const headersFor = (token: string, ua = UA) => ({ authorization: `Bearer ${token}`, 'user-agent': ua, 'accept-language': LANG });

async function demoToken(url = server.url): Promise<string> {
  const res = await tokenAt(url, demo.client_id, demo.client_secret);
  assert.is(res.status, 200, JSON.stringify(res.body));
  return res.body.access_token;
}

async function login(login: string, password: string, token: string, url = server.url) {
  return rpcAt(url, 'users.login', { login, password }, headersFor(token));
}

/** The refusal (error) of `me` for this session, or undefined when it is accepted. */
async function meError(sessionId: string, token: string, url = server.url) {
  const res = await rpcAt(url, 'me', { session_id: sessionId }, headersFor(token));
  return res.body?.error as { code: number; message: string; data?: { error_code?: string } } | undefined;
}

test.before(async () => {
  server = await startServer(env);
  demo = JSON.parse(readFileSync(join(dataDir, 'demo-credentials.json'), 'utf8'));
});
test.after(async () => {
  if (server) await stopServer(server);
  rmSync(dataDir, { recursive: true, force: true });
});

test('the server publishes its database address and holds the DATA_DIR lock', () => {
  const published = JSON.parse(readFileSync(join(dataDir, 'server.json'), 'utf8'));
  const lock = JSON.parse(readFileSync(join(dataDir, 'tether.lock'), 'utf8'));
  assert.is(published.pid, server.proc.pid);
  assert.is(lock.pid, server.proc.pid);
  assert.is(published.host, '127.0.0.1');
  assert.type(published.port, 'number');
});

// Kept for the restart test.
const alice = { login: `alice_${process.pid}`, password: `alice-pw-${process.pid}` };
const carol = { login: `carol_${process.pid}`, password: `carol-pw-${process.pid}` };
let newClient: { id: string; secret: string };
let revokedClient: { id: string; secret: string };
let revokedSession: string;

test('users add beside a running server: the new user logs in at the next call', async () => {
  const out = ok(await cli(['users', 'add', '--login', alice.login, '--password-stdin', '--json'], alice.password));
  assert.is(out.user.login, alice.login);
  const res = await login(alice.login, alice.password, await demoToken());
  assert.type(res.body?.result?.session_id, 'string', JSON.stringify(res.body));
  // The command line reads what the server wrote, and the server what the command line wrote: one database.
  const listed = ok(await cli(['users', 'list', '--json']));
  assert.ok(listed.users.some((u: { login: string }) => u.login === 'demo'), 'the demo user the server created is listed');
});

test('clients add beside a running server (with scopes, as the README shows): the new client gets a token at the next call', async () => {
  // --scopes: an array parameter, which an attached command once sent as text (its first query was
  // built before its connection had read the array types).
  const out = ok(await cli(['clients', 'add', '--name', 'embedded-test', '--scopes', 'admin', '--json']));
  assert.equal(out.client.scopes, ['admin']);
  newClient = { id: out.client.id, secret: out.client_secret };
  const res = await tokenAt(server.url, newClient.id, newClient.secret);
  assert.is(res.status, 200, JSON.stringify(res.body));
  assert.type(res.body.access_token, 'string');
  assert.is(res.body.scope, 'admin');
});

test('sessions revoke beside a running server: the next call with that session is refused', async () => {
  const token = await demoToken();
  const res = await login(alice.login, alice.password, token);
  revokedSession = res.body.result.session_id;
  assert.is(await meError(revokedSession, token), undefined, 'accepted before the revoke (and now in the server cache)');
  ok(await cli(['sessions', 'revoke', revokedSession, '--json']));
  const error = await meError(revokedSession, token);
  assert.ok(error, 'the revoked session is refused at the next call');
});

test('users disable beside a running server: the user\'s session is refused at the next call, and a new login too', async () => {
  ok(await cli(['users', 'add', '--login', carol.login, '--password-stdin', '--json'], carol.password));
  const token = await demoToken();
  const sessionId = (await login(carol.login, carol.password, token)).body.result.session_id as string;
  assert.is(await meError(sessionId, token), undefined, 'accepted before the disable');
  ok(await cli(['users', 'disable', carol.login, '--json']));
  assert.ok(await meError(sessionId, token), 'the disabled user\'s session is refused at the next call');
  const again = await login(carol.login, carol.password, token);
  assert.ok(again.body?.error, `a disabled user cannot log in: ${JSON.stringify(again.body)}`);
});

test('clients revoke beside a running server: its token is refused at the next call', async () => {
  const out = ok(await cli(['clients', 'add', '--name', 'to-revoke', '--json']));
  revokedClient = { id: out.client.id, secret: out.client_secret };
  const token = (await tokenAt(server.url, revokedClient.id, revokedClient.secret)).body.access_token as string;
  const before = await rpcAt(server.url, 'users.login', { login: alice.login, password: alice.password }, headersFor(token));
  assert.type(before.body?.result?.session_id, 'string', 'the client works before the revoke');
  ok(await cli(['clients', 'revoke', revokedClient.id, '--json']));
  const after = await rpcAt(server.url, 'users.login', { login: alice.login, password: alice.password }, headersFor(token));
  assert.ok(after.body?.error, `a revoked client's token is refused at the next call: ${JSON.stringify(after.body)}`);
  const fresh = await tokenAt(server.url, revokedClient.id, revokedClient.secret);
  assert.is(fresh.status, 401, `and it gets no new token: ${JSON.stringify(fresh.body)}`);
});

test('every change is still there after the server restarts', async () => {
  const stopped = await stopServer(server);
  assert.is(stopped.code, 0, `clean shutdown\n${server.stderr().slice(-2000)}`);
  assert.not.ok(existsSync(join(dataDir, 'server.json')), 'the address is withdrawn at shutdown');
  assert.not.ok(existsSync(join(dataDir, 'tether.lock')), 'the lock is released at shutdown');
  server = await startServer(env);
  const token = await demoToken();
  const alive = await login(alice.login, alice.password, token);
  assert.type(alive.body?.result?.session_id, 'string', `the user added by the command line logs in: ${JSON.stringify(alive.body)}`);
  assert.is((await tokenAt(server.url, newClient.id, newClient.secret)).status, 200, 'the client added by the command line gets a token');
  assert.ok(await meError(revokedSession, token), 'the revoked session stays revoked');
  assert.ok((await login(carol.login, carol.password, token)).body?.error, 'the disabled user stays disabled');
  assert.is((await tokenAt(server.url, revokedClient.id, revokedClient.secret)).status, 401, 'the revoked client stays revoked');
});

test('a second server on a DATA_DIR in use exits 2 naming DATA_DIR and the pid that holds it', async () => {
  const second = await spawnServer(env);
  const { code } = await second.exit;
  assert.is(code, 2, second.stderr());
  assert.ok(second.stderr().includes('DATA_DIR'), second.stderr());
  assert.ok(second.stderr().includes(dataDir), second.stderr());
  assert.ok(second.stderr().includes(String(server.proc.pid)), second.stderr());
  assert.is((await fetch(server.url + '/healthz')).status, 200, 'the first server is untouched');
});

test('a lock left by a SIGKILLed server is taken over: by the command line, then by a new server', async () => {
  const killedPid = server.proc.pid;
  server.proc.kill('SIGKILL');
  await server.exit;
  assert.ok(existsSync(join(dataDir, 'tether.lock')), 'the killed server left its lock');
  // No server answers: the command line opens the directory itself (and lets go of it when done).
  const listed = ok(await cli(['users', 'list', '--json']));
  assert.ok(listed.users.some((u: { login: string }) => u.login === alice.login));
  server = await startServer(env);
  const lock = JSON.parse(readFileSync(join(dataDir, 'tether.lock'), 'utf8'));
  assert.is(lock.pid, server.proc.pid);
  assert.is.not(lock.pid, killedPid);
  const res = await login(alice.login, alice.password, await demoToken());
  assert.type(res.body?.result?.session_id, 'string');
});

test('commands beside the server, many at once: each answers right, none opens the directory', async () => {
  const runs = await Promise.all(Array.from({ length: 4 }, () => cli(['users', 'list', '--json'])));
  for (const r of runs) assert.ok(ok(r).users.some((u: { login: string }) => u.login === alice.login));
  assert.ok(await eventually(5000, () => JSON.parse(readFileSync(join(dataDir, 'tether.lock'), 'utf8')).pid === server.proc.pid), 'the server still holds the lock');
});

test.run();
