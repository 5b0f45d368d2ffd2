// Throwaway Redis and PostgreSQL servers for tests that must stop, kill or restart a store without
// touching the shared ones. Each runs on a free loopback port, in its own process group, with its
// files in a temp dir, and is killed (SIGKILL, whole group) and its dir removed when the test process
// exits, so a failed or aborted test leaves no server behind. (SIGINT/SIGTERM/SIGHUP are turned into
// process.exit so they take that path too; only a SIGKILL of the test process itself can orphan one.)
//
//   const redis = await startThrowawayRedis();      // redis-server --save "" --appendonly no
//   redis.url                                       // redis://127.0.0.1:<port>
//   await redis.kill();                             // SIGKILL: a crash; the port stops answering
//   await redis.restart();                          // a new, empty redis-server on the same port
//   await redis.stop();                             // SIGTERM, waits for the exit; final
//
//   const pg = await startThrowawayPostgres();      // initdb (trust auth) + postgres on 127.0.0.1
//   pg.url                                          // postgres://postgres@127.0.0.1:<port>/postgres
//   pg.urlFor('other')                              // the same server, another database
//   await pg.kill();                                // SIGKILL to postmaster and backends: a crash
//   await pg.start();                               // again on the same data dir and port
//   await pg.stop();                                // fast shutdown (pg_ctl stop -m fast), removes the dir
//
//   const bouncer = await startThrowawayPgbouncer(pg, 'db'); // pool_mode=transaction in front of pg's db
//   bouncer.url                                     // postgres://postgres@127.0.0.1:<port>/db
//
// PostgreSQL refuses to run as root: when this process is root, initdb and postgres are spawned with
// the uid/gid of the `postgres` system user (from /etc/passwd) and the temp dir is chown'ed to it.
// Every wait is bounded; a server that does not answer in time fails the call with its log tail.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';
const READY_TIMEOUT_MS = 20_000;
const EXIT_TIMEOUT_MS = 10_000;

export interface ThrowawayRedis {
  url: string;
  port: number;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit: the server vanishes mid-conversation. */
  kill(): Promise<void>;
  /** Start a new (empty) redis-server on the same port; stops a running one first. */
  restart(): Promise<void>;
}

export interface ThrowawayPostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust auth, no password). */
  url: string;
  port: number;
  dataDir: string;
  urlFor(database: string): string;
  /** Fast shutdown (SIGINT, what `pg_ctl stop -m fast` sends), then remove the temp dir. Final. */
  stop(): Promise<void>;
  /** SIGKILL to the postmaster and every backend, and wait for the exit. The data dir stays. */
  kill(): Promise<void>;
  /** Start again on the same data dir and port (after kill()), waiting until it accepts connections. */
  start(): Promise<void>;
}

// ---- process bookkeeping: everything started here dies with this process ----

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const child of live) {
      for (const pid of childrenOf(child.pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      killGroup(child, 'SIGKILL');
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  // An interrupted run still goes through the 'exit' hook above.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1)));
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // detached: the child leads its own process group
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

function exited(child: ChildProcess, ms = EXIT_TIMEOUT_MS): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pid ${child.pid} did not exit within ${ms} ms`)), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The pids whose parent is `pid` (PostgreSQL backends each lead their own session, so a group kill misses them). */
function childrenOf(pid: number | undefined): number[] {
  if (pid === undefined || !existsSync('/proc')) return [];
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after the last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) found.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

/** Running (a zombie waiting for init to reap it counts as gone). */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

/** Stop a child: `signal`, then SIGKILL to its group if it has not exited in time. */
export async function terminate(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  // On SIGKILL the forked workers die with the parent, as in a crash of the whole server.
  const workers = signal === 'SIGKILL' ? childrenOf(child.pid) : [];
  for (const pid of workers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  killGroup(child, signal);
  try {
    await exited(child);
  } catch {
    killGroup(child, 'SIGKILL');
    await exited(child, 5000);
  }
  killGroup(child, 'SIGKILL');
  live.delete(child);
  // Reaped by init now: wait until they are gone, so a restart finds no shared memory in use.
  const deadline = Date.now() + EXIT_TIMEOUT_MS;
  while (workers.some(alive) && Date.now() < deadline) await sleep(20);
}

export function launch(command: string, args: string[], logFile: string, ids?: { uid: number; gid: number }): ChildProcess {
  hookExit();
  const fd = openSync(logFile, 'a');
  if (ids) chownSync(logFile, ids.uid, ids.gid);
  const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], ...(ids ?? {}) });
  closeSync(fd);
  child.on('error', () => {}); // reported through the readiness wait (and its log tail)
  child.unref(); // a forgotten server never keeps the test process alive
  live.add(child);
  return child;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const tail = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-15).join('\n') : '(no log)');

/** A TCP port that was free a moment ago (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function until(what: string, ms: number, check: () => Promise<boolean>, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${tail(logFile)}`);
    }
    if (await check().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`${what} not ready within ${ms} ms:\n${tail(logFile)}`);
}

/** A temp dir removed when this process exits (and by `removeDir`). */
export function throwawayDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

// ---- Redis ----

/** True when a Redis server answers PING on the port within a second. */
export function redisAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      clearTimeout(timer);
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1000);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      answer += d;
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

export async function startThrowawayRedis(): Promise<ThrowawayRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'tether-redis-'));
  dirs.add(dir);
  const logFile = join(dir, 'redis.log');
  let port = 0;
  let child: ChildProcess | undefined;

  const boot = async () => {
    child = launch(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], logFile);
    await until(`redis-server on ${port}`, READY_TIMEOUT_MS, () => redisAnswers(port), child, logFile);
  };
  // The free port can be taken between the probe and the listen: try a few.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await boot();
      break;
    } catch (err) {
      if (child) await terminate(child, 'SIGKILL');
      if (attempt === 3) throw err;
    }
  }

  const halt = async (signal: NodeJS.Signals) => {
    if (child) await terminate(child, signal);
    child = undefined;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await halt('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
    kill: () => halt('SIGKILL'),
    restart: async () => {
      await halt('SIGTERM');
      await boot();
    },
  };
}

// ---- PostgreSQL ----

function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root and there is no postgres user to run PostgreSQL as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function run(command: string, args: string[], ids: { uid: number; gid: number } | undefined, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: ms, killSignal: 'SIGKILL', ...(ids ?? {}) }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  hookExit();
  const ids = postgresUser();
  const dir = mkdtempSync(join(tmpdir(), 'tether-pg-'));
  dirs.add(dir);
  if (ids) chownSync(dir, ids.uid, ids.gid);
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  await run(join(PG_BIN, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions'], ids, 60_000);

  let port = 0;
  let child: ChildProcess | undefined;
  const ready = () =>
    run(join(PG_BIN, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-t', '1'], undefined, 3000).then(
      () => true,
      () => false,
    );
  const boot = async () => {
    if (child) await terminate(child, 'SIGKILL');
    const args = ['-D', dataDir, '-p', String(port), '-h', '127.0.0.1', '-k', dir, '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=50'];
    child = launch(join(PG_BIN, 'postgres'), args, logFile, ids);
    await until(`postgres on ${port}`, READY_TIMEOUT_MS, ready, child, logFile);
  };
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await boot();
      break;
    } catch (err) {
      if (child) await terminate(child, 'SIGKILL');
      if (attempt === 3) {
        rmSync(dir, { recursive: true, force: true });
        dirs.delete(dir);
        throw err;
      }
    }
  }

  const urlFor = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    url: urlFor('postgres'),
    port,
    dataDir,
    urlFor,
    async stop() {
      if (child) await terminate(child, 'SIGINT');
      child = undefined;
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
    async kill() {
      if (child) await terminate(child, 'SIGKILL');
      child = undefined;
    },
    async start() {
      if (child) throw new Error('postgres is already running');
      if (!existsSync(dataDir)) throw new Error('postgres was stopped for good (its data dir is gone)');
      // Same port, so a refused start (a port or shared memory not yet released) is retried.
      for (let attempt = 1; ; attempt++) {
        try {
          await boot();
          return;
        } catch (err) {
          if (attempt === 3) throw err;
          await sleep(500);
        }
      }
    },
  };
}

// ---- PgBouncer ----

/** Debian's pgbouncer, when installed (`apt-get install pgbouncer`; .ci/run installs it). */
export const PGBOUNCER_BIN = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => existsSync(p));

export interface ThrowawayPgbouncer {
  /** postgres://postgres@127.0.0.1:<port>/<database>, pooled in transaction mode. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** A pgbouncer in transaction pooling mode in front of `database` on a throwaway PostgreSQL (trust auth). */
export async function startThrowawayPgbouncer(pg: ThrowawayPostgres, database: string, poolSize = 3): Promise<ThrowawayPgbouncer> {
  if (!PGBOUNCER_BIN) throw new Error('pgbouncer is not installed');
  hookExit();
  // pgbouncer refuses to run as root: as root, it runs as the postgres user, like PostgreSQL.
  const ids = postgresUser();
  const dir = mkdtempSync(join(tmpdir(), 'tether-pgbouncer-'));
  dirs.add(dir);
  if (ids) chownSync(dir, ids.uid, ids.gid);
  const logFile = join(dir, 'pgbouncer.log');
  const port = await freePort();
  writeFileSync(join(dir, 'userlist.txt'), '"postgres" ""\n');
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `${database} = host=127.0.0.1 port=${pg.port} dbname=${database} user=postgres`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 200',
      // postgres.js sends these at startup; a pooler cannot keep per-client settings.
      'ignore_startup_parameters = extra_float_digits,options',
    ].join('\n') + '\n',
  );
  const child = launch(PGBOUNCER_BIN, [join(dir, 'pgbouncer.ini')], logFile, ids);
  const answers = () =>
    new Promise<boolean>((resolve) => {
      const socket = net.createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
  await until(`pgbouncer on ${port}`, READY_TIMEOUT_MS, answers, child, logFile);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    port,
    async stop() {
      await terminate(child, 'SIGINT');
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
}
