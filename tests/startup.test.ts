// Start-up a person can follow, on the real entry point (`server/main.ts` as a child process):
// - a bad DATA_DIR, HOST, PORT, TRUSTED_PROXIES or PROBLEM_BASE_URL exits 2 with a message naming the
//   variable, before anything is opened or migrated (no pglite directory; with DATABASE_URL pointing
//   at nothing, 2 and not the 1 of an unreachable database);
// - Redis unreachable at start: a log line saying so, then the server starts degraded (/readyz), and
//   sessions are answered from PostgreSQL; the command line finishes instead of hanging;
// - V8's helper threads run at V8_THREADS_NICE (19) below the event loop; the loop and libuv's pool
//   (password hashing) keep their priority, and 0 leaves every thread as it was;
// - SIGTERM while start-up waits on a PostgreSQL that accepts connections and never answers: the
//   process stops within SHUTDOWN_TIMEOUT.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { embeddedEnv, eventually, rpcAt, runCli, showRun, spawnServer, startServer, stopServer, tokenAt } from './support/child.ts';
import { freePort } from './support/throwaway.ts';
import { LOWER_BELOW, RESTORE_ABOVE, niceFor } from '../server/v8Threads.ts';

const test = suite('startup');
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tether-startup-'));
  dirs.push(dir);
  return dir;
};
test.after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function refusedAtStart(extra: NodeJS.ProcessEnv, variable: string) {
  const dataDir = extra.DATA_DIR ?? tempDir();
  const child = await spawnServer(embeddedEnv(dataDir, { LOG_LEVEL: 'info', ...extra }));
  const { code } = await child.exit;
  const stderr = child.stderr();
  assert.is(code, 2, `exit 2 for ${JSON.stringify(extra)}\n${stderr}\n${child.stdout()}`);
  assert.ok(stderr.includes(variable), `the message names ${variable}: ${stderr}`);
  assert.not.ok(stderr.includes('    at '), `a message, not a stack trace: ${stderr}`);
  assert.not.ok(child.stdout().includes('migrations applied'), 'nothing migrated');
  if (!extra.DATA_DIR) assert.not.ok(existsSync(join(dataDir, 'pglite')), 'the embedded database was not even opened');
}

test('an unusable DATA_DIR exits 2 naming DATA_DIR, the server and the command line', async () => {
  const file = join(tempDir(), 'a-file');
  writeFileSync(file, 'not a directory');
  await refusedAtStart({ DATA_DIR: join(file, 'data') }, 'DATA_DIR');
  const run = await runCli(['users', 'list', '--json'], embeddedEnv(join(file, 'data')));
  assert.is(run.code, 2, showRun(run));
  assert.ok(run.stderr.includes('DATA_DIR'), showRun(run));
});

test('a HOST that cannot be resolved, or not bound here, exits 2 naming HOST', async () => {
  await refusedAtStart({ HOST: 'no-such-host.invalid' }, 'HOST');
  await refusedAtStart({ HOST: '192.0.2.1' }, 'HOST'); // TEST-NET-1: never an address of this machine
});

test('a PORT in use exits 2 naming PORT', async () => {
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
  try {
    await refusedAtStart({ PORT: String((busy.address() as net.AddressInfo).port) }, 'PORT');
  } finally {
    busy.close();
  }
});

test('a malformed TRUSTED_PROXIES entry exits 2 naming TRUSTED_PROXIES', async () => {
  for (const value of ['10.0.0.0/33', '300.1.1.1', 'fd00::/129', 'proxy.internal', '10.0.0.1/8/1']) {
    await refusedAtStart({ TRUSTED_PROXIES: `127.0.0.1,${value}` }, 'TRUSTED_PROXIES');
  }
});

test('a PROBLEM_BASE_URL that is not an absolute http(s) URL exits 2 naming PROBLEM_BASE_URL', async () => {
  for (const value of ['/problems', 'ftp://example.com/p', 'example.com/problems']) {
    await refusedAtStart({ PROBLEM_BASE_URL: value }, 'PROBLEM_BASE_URL');
  }
});

test('a configuration error comes before the database: 2 even with DATABASE_URL pointing at nothing', async () => {
  const port = await freePort();
  await refusedAtStart({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/none`, JWT_SECRET: 'startup-test-secret-0123456789-0123456789', TRUSTED_PROXIES: 'nonsense' }, 'TRUSTED_PROXIES');
});

test('Redis unreachable at start: said at once, then the server starts degraded and sessions work from PostgreSQL', async () => {
  const dataDir = tempDir();
  const redisPort = await freePort(); // nothing listens there
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const server = await startServer(embeddedEnv(dataDir, { LOG_LEVEL: 'info', REDIS_URL: redisUrl }));
  try {
    // The store, its variable and its address; the banner says degraded, not "cache: redis".
    assert.ok(server.stdout().includes(`Redis at REDIS_URL (127.0.0.1:${redisPort}) unreachable at start`), server.stdout());
    assert.match(server.stderr(), /Tether is listening on \S+ \(database: embedded, cache: degraded /, server.stderr());
    const ready = await fetch(server.url + '/readyz');
    const body = (await ready.json()) as { status: string; cache: string };
    assert.is(ready.status, 503);
    assert.is(body.status, 'degraded');
    const demo = JSON.parse(readFileSync(join(dataDir, 'demo-credentials.json'), 'utf8'));
    const token = (await tokenAt(server.url, demo.client_id, demo.client_secret)).body.access_token as string;
    const headers = { authorization: `Bearer ${token}`, 'user-agent': 'StartupTest/1.0', 'accept-language': 'en-US' };
    const login = await rpcAt(server.url, 'users.login', { login: demo.login, password: demo.password }, headers);
    const sessionId = login.body?.result?.session_id as string;
    assert.type(sessionId, 'string', JSON.stringify(login.body));
    const me = await rpcAt(server.url, 'me', { session_id: sessionId }, headers);
    assert.is(me.body?.error, undefined, JSON.stringify(me.body));
    // The command line on the same unreachable Redis finishes (success or a clear failure), never hangs.
    const run = await runCli(['users', 'list', '--json'], embeddedEnv(dataDir, { REDIS_URL: redisUrl }), '', 30_000);
    assert.ok(run.code === 0 || (run.code === 1 && run.stderr.length > 0), showRun(run));
  } finally {
    assert.is((await stopServer(server)).code, 0, server.stdout().slice(-2000));
  }
});

test("V8's threads follow the loop: back at its priority while it is saturated, below it again once it has room", () => {
  assert.is(niceFor(0.2, 19, 19, 0), 19);
  assert.is(niceFor(0.9, 19, 19, 0), 0, "saturated: the loop's priority, or the marking falls behind and the heap grows");
  assert.is(niceFor(0.9, 19, 19, 5), 5, "the loop's own niceness, not 0, under an operator's `nice`");
  assert.is(niceFor(0.8, 0, 19, 0), 0, 'between the two bounds: as it is (no flapping)');
  assert.is(niceFor(0.8, 19, 19, 0), 19);
  assert.is(niceFor(0.5, 0, 19, 0), 19, 'room again: below the loop');
  assert.ok(LOWER_BELOW < RESTORE_ABOVE);
});

/** Niceness of each thread of a process, by thread id (/proc/<pid>/task/<tid>/stat, field 19). */
function nicenessOf(pid: number): Map<number, number> {
  const nice = (tid: number) => Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ')[16]);
  return new Map(readdirSync(`/proc/${pid}/task`).map((tid) => [Number(tid), nice(Number(tid))]));
}

test("V8's helper threads run at V8_THREADS_NICE below the event loop; the loop and libuv's pool keep theirs", async () => {
  if (process.platform !== 'linux') return;
  const own = getPriority();
  const dataDir = tempDir();
  const server = await startServer(embeddedEnv(dataDir, { LOG_LEVEL: 'info' }));
  try {
    // Start-up keeps the loop busy (the embedded database, migrations): below it once it idles.
    let threads = nicenessOf(server.proc.pid!);
    await eventually(30_000, () => [...(threads = nicenessOf(server.proc.pid!)).values()].filter((n) => n === 19).length === 5);
    assert.is(threads.get(server.proc.pid!), own, 'the event loop keeps its priority');
    const lowered = [...threads.values()].filter((n) => n === 19).length;
    assert.is(lowered, 5, `V8's delayed-task thread and its 4 workers at 19: ${JSON.stringify([...threads])}`);
    assert.ok([...threads.values()].filter((n) => n === own).length >= 5, `the loop, libuv's pool and the rest keep ${own}: ${JSON.stringify([...threads])}`);
    assert.match(server.stdout(), /"threads":5,"nice":19,"msg":"V8's helper threads \(GC, compilation\) run below the event loop while it has time to spare"/);
    // A login hashes its password on libuv's pool: answered as before.
    const demo = JSON.parse(readFileSync(join(dataDir, 'demo-credentials.json'), 'utf8'));
    const token = (await tokenAt(server.url, demo.client_id, demo.client_secret)).body.access_token as string;
    const login = await rpcAt(server.url, 'users.login', { login: demo.login, password: demo.password }, { authorization: `Bearer ${token}`, 'user-agent': 'StartupTest/1.0' });
    assert.type(login.body?.result?.session_id, 'string', JSON.stringify(login.body));
  } finally {
    assert.is((await stopServer(server)).code, 0, server.stdout().slice(-2000));
  }
  const untouched = await startServer(embeddedEnv(tempDir(), { LOG_LEVEL: 'info', V8_THREADS_NICE: '0' }));
  try {
    assert.equal([...new Set(nicenessOf(untouched.proc.pid!).values())], [own], 'V8_THREADS_NICE=0: every thread as it was');
    assert.ok(untouched.stdout().includes(`"reason":"V8_THREADS_NICE=0"`), untouched.stdout());
  } finally {
    assert.is((await stopServer(untouched)).code, 0, untouched.stdout().slice(-2000));
  }
  await refusedAtStart({ V8_THREADS_NICE: '20' }, 'V8_THREADS_NICE');
});

test.run();
