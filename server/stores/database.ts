// PostgreSQL through postgres.js, the one driver. Without DATABASE_URL an embedded PGlite under
// dataDir answers the same wire protocol on a loopback port, so the same SQL runs on both.
//
// Embedded, one process owns the directory (DATA_DIR/tether.lock). A server publishes its PGlite
// address once migrated (DATA_DIR/server.json), and a command (`npx tether`) on the same DATA_DIR
// connects there instead of opening the directory; with no server running, the command takes the
// lock and opens the directory itself.
import postgres from 'postgres';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DATABASE_POOL_SIZE, type Config } from '../config.ts';
import { acquireDataDirLock, DataDirInUse, type DataDirLock, type LockRole } from '../embedded/dataDirLock.ts';
import { findRunningServer, publishServer, type PublishedServer } from '../embedded/runningServer.ts';
import { StoreUnavailable, storeName } from './storeName.ts';

export { StoreUnavailable };

export type Sql = postgres.Sql<Record<string, never>>;

export interface Database {
  sql: Sql;
  kind: 'postgres' | 'embedded';
  /**
   * Calls `onPayload` with every notification on `channel`, whichever connection's commit sent it,
   * and `onListen` each time the listening connection is (re)established: notifications sent while
   * it was down are lost, so a follower reads what it missed then.
   */
  listen(channel: string, onPayload: (payload: string) => void, onListen?: () => void): Promise<void>;
  /**
   * Real PostgreSQL: a pool of one connection for the audit's COPY, which no other query shares
   * (postgres.js pipelines queries onto busy connections, and one that lands on a connection in COPY
   * fails; a reserved connection that PostgreSQL drops crashes postgres.js on its next query).
   */
  copySql?: Sql;
  /** Embedded, opened by a command: the running server whose database it went through. */
  attachedTo?: PublishedServer;
  /** Embedded, opened by a server: tell commands on this DATA_DIR where the database answers. */
  publish?(): void;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** 'cli' goes through a running server's database when there is one. Default 'server'. */
  role?: LockRole;
  /** How long to wait for a DATA_DIR held by a command (a server) or starting up (a command). */
  waitMs?: number;
}

// postgres.js waits out a reconnect backoff before each new connection attempt, and queries queue
// behind it; its default grows to 20 s, so with PostgreSQL down a login or a session restore would hang
// for up to tens of seconds before answering 503, and stay slow for as long after PostgreSQL is back.
// Capped at 250 ms: a query then fails within ~0.5 s while PostgreSQL is down (tests/faults measure it)
// and each pooled connection retries at most ~4 times a second, only while queries wait: backed off,
// never a busy loop.
const backoff = (retries: number) => Math.min(0.05 * 2 ** retries, 0.25);
const quiet = { onnotice: () => {}, backoff };

/**
 * To PGlite: one connection per process, and no named prepared statements: every connection to the
 * socket shares PGlite's one backend session, so two processes' statement names would collide. A
 * connect timeout of 30 s: the socket is local, but its engine shares this event loop with whatever
 * else starts meanwhile (embedded servers starting together in one test process held each other up
 * for seconds on a busy machine).
 */
const toPglite = (host: string, port: number) =>
  postgres({ ...quiet, host, port, database: 'postgres', username: 'postgres', max: 1, prepare: false, connect_timeout: 30, transform: { undefined: null } }) as unknown as Sql;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * postgres.js reads the array types on every new connection in a promise nobody awaits, so a
 * connection reset at that moment is an unhandled rejection, which ends the process
 * (porsager/postgres#1192, #1223; tests/faults/connection-cut.test.ts). The first connection reads
 * them here, awaited; the parsers it registers are the pool's, so later connections skip the read.
 * Awaited, they are also there before the first query is built (porsager/postgres#789: a query built
 * earlier sends sql.array() parameters as text).
 */
async function typesReadOnce(sql: Sql, store?: { name: string; timeoutS: number }): Promise<Sql> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const first = sql`select 1`;
    if (!store) await first;
    else {
      // connect_timeout covers the TCP connect only: a port that accepts and answers something else
      // (an HTTP server, Tether's own port) or nothing at all would hold the start-up forever.
      first.catch(() => {});
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new StoreUnavailable(`${store.name} did not answer as PostgreSQL within ${store.timeoutS} s`)), store.timeoutS * 1000);
      });
      await Promise.race([first, timeout]);
    }
  } catch (err) {
    await sql.end({ timeout: 0 }); // no pool left retrying behind a failed open
    if (!store || err instanceof StoreUnavailable) throw err;
    throw new StoreUnavailable(`${store.name} could not be opened: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
  (sql.options as { fetch_types: boolean }).fetch_types = false;
  return sql;
}

type DatabaseConfig = Pick<Config, 'databaseUrl' | 'dataDir'> & Partial<Pick<Config, 'databaseListenUrl' | 'databasePrepare' | 'databasePoolSize'>> & { storeStartupTimeout?: number };

export async function openDatabase(config: DatabaseConfig, options: OpenOptions = {}): Promise<Database> {
  if (config.databaseUrl) {
    const store = { name: storeName('PostgreSQL', 'DATABASE_URL', config.databaseUrl), timeoutS: config.storeStartupTimeout ?? 5 };
    // Behind a transaction pooler (PgBouncer pool_mode=transaction) each statement may run on another
    // server connection, so a statement prepared on one is unknown on the next: DATABASE_PREPARE=off
    // sends every query unnamed (parsed each time, still parameterised).
    const prepare = config.databasePrepare ?? true;
    const sql = await typesReadOnce(postgres(config.databaseUrl, { ...quiet, max: config.databasePoolSize ?? DATABASE_POOL_SIZE, idle_timeout: 30, connect_timeout: 5, prepare, transform: { undefined: null } }) as unknown as Sql, store);
    // No types read: COPY's text needs none, and an unawaited read is what #1192 is about.
    const copySql = postgres(config.databaseUrl, { ...quiet, max: 1, idle_timeout: 30, connect_timeout: 5, prepare, fetch_types: false }) as unknown as Sql;
    // LISTEN belongs to a session, which a transaction pooler does not keep: the follower listens on a
    // direct connection (DATABASE_LISTEN_URL). The same URL: postgres.js's own listening connection.
    const listenUrl = config.databaseListenUrl ?? config.databaseUrl;
    const listenSql = listenUrl === config.databaseUrl ? sql : (postgres(listenUrl, { ...quiet, max: 1, connect_timeout: 5, fetch_types: false }) as unknown as Sql);
    return {
      sql,
      kind: 'postgres',
      async listen(channel, onPayload, onListen) {
        await listenSql.listen(channel, onPayload, onListen);
      },
      copySql,
      async close() {
        await Promise.all([sql.end({ timeout: 5 }), copySql.end({ timeout: 5 }), listenSql === sql ? undefined : listenSql.end({ timeout: 5 })]);
      },
    };
  }
  const role = options.role ?? 'server';
  await mkdir(config.dataDir, { recursive: true });
  const lock = await lockOrAttach(config.dataDir, role, options.waitMs ?? 10_000);
  if (!('release' in lock)) return lock;
  try {
    return await openEmbedded(config.dataDir, lock);
  } catch (err) {
    lock.release();
    throw err;
  }
}

/**
 * A command attaches to a published server; otherwise it, or a server, takes the lock. A holder that
 * may let go soon is waited for (a command finishing, or a server that has not published yet);
 * a server never waits for another server.
 */
async function lockOrAttach(dataDir: string, role: LockRole, waitMs: number): Promise<DataDirLock | Database> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (role === 'cli') {
      const server = await findRunningServer(dataDir);
      if (server) {
        // Types read before the first query: a query built before its connection has read them sends
        // sql.array() parameters as text (`clients add --scopes` failed on an attached command).
        const sql = await typesReadOnce(toPglite(server.host, server.port));
        // A command serves no calls: it has no cache to keep, and no feed to follow.
        const listen = async () => {};
        return { sql, kind: 'embedded', attachedTo: server, listen, close: () => sql.end({ timeout: 5 }) };
      }
    }
    try {
      return acquireDataDirLock(dataDir, role);
    } catch (err) {
      if (!(err instanceof DataDirInUse)) throw err;
      const waitable = role === 'cli' || err.holder.role === 'cli';
      if (!waitable || Date.now() >= deadline) throw err;
    }
    await sleep(100);
  }
}

async function openEmbedded(dataDir: string, lock: DataDirLock): Promise<Database> {
  // Loaded lazily: a deployment on real PostgreSQL never pays for the embedded engine.
  const { openPglite } = await import('../embedded/pgliteEngine.ts');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const { UnitQueue } = await import('../embedded/pgliteQueue.ts');
  const dir = join(dataDir, 'pglite');
  await mkdir(dir, { recursive: true });
  const engine = await openPglite(dir);
  const notifications = notificationTap(engine);
  // A few connections: this process's pool and the commands run beside it. Each waits its turn at
  // the one backend, a whole query (or transaction) at a time (pgliteQueue.ts says why).
  const socket = new PGLiteSocketServer({ db: notifications.engine, host: '127.0.0.1', port: 0, maxConnections: 16 });
  (socket as unknown as { queryQueue: unknown }).queryQueue = new UnitQueue(notifications.engine);
  await socket.start();
  const [host, port] = socket.getServerConn().split(':');
  const sql = await typesReadOnce(toPglite(host, Number(port)));
  let unpublish = () => {};
  return {
    sql,
    kind: 'embedded',
    async listen(channel, onPayload) {
      notifications.on(channel, onPayload);
      await sql.unsafe(`listen ${channel}`);
    },
    publish() {
      unpublish = publishServer(dataDir, { host, port: Number(port) });
    },
    async close() {
      unpublish();
      try {
        await sql.end({ timeout: 5 });
        await socket.stop();
        await engine.close();
      } finally {
        lock.release();
      }
    },
  };
}

/**
 * PGlite is one backend session behind the socket, and its own listen() never hears a NOTIFY that a
 * socket connection's commit sent: the NotificationResponse goes out in that connection's raw reply.
 * This wraps the engine the socket server uses and reads those replies as they pass (whole replies:
 * each is one protocol exchange), handing each notification to the listeners of its channel.
 */
function notificationTap(engine: import('@electric-sql/pglite').PGlite) {
  const listeners = new Map<string, (payload: string) => void>();
  const scan = (reply: Buffer) => {
    for (let i = 0; i + 5 <= reply.length; ) {
      const length = reply.readInt32BE(i + 1);
      if (reply[i] === 0x41 /* 'A' NotificationResponse: pid, channel\0, payload\0 */) {
        const body = reply.subarray(i + 9, i + 1 + length);
        const split = body.indexOf(0);
        listeners.get(body.subarray(0, split).toString())?.(body.subarray(split + 1, body.length - 1).toString());
      }
      i += 1 + length;
    }
  };
  type RawStream = (message: Uint8Array, options: { onRawData: (data: Uint8Array) => void }) => Promise<unknown>;
  const tapped = new Proxy(engine, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (prop === 'execProtocolRawStream' && listeners.size) {
        return async (message: Uint8Array, options: { onRawData: (data: Uint8Array) => void }) => {
          const chunks: Uint8Array[] = [];
          const result = await (value as RawStream).call(target, message, {
            ...options,
            onRawData: (data) => {
              chunks.push(data.slice());
              options.onRawData(data);
            },
          });
          scan(Buffer.concat(chunks));
          return result;
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { engine: tapped, on: (channel: string, onPayload: (payload: string) => void) => void listeners.set(channel, onPayload) };
}
