// PostgreSQL through postgres.js, the one driver. Without DATABASE_URL an embedded PGlite under
// dataDir answers the same wire protocol on a loopback port, so the same SQL runs on both.
import postgres from 'postgres';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.ts';

export type Sql = postgres.Sql<Record<string, never>>;

export interface Database {
  sql: Sql;
  kind: 'postgres' | 'embedded';
  /** Calls `onPayload` with every notification on `channel`, whichever connection's commit sent it. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<void>;
  close(): Promise<void>;
}

// postgres.js waits out a reconnect backoff before each new connection attempt, and queries queue
// behind it; its default grows to 20 s, so with PostgreSQL down a login or a session restore would hang
// for up to tens of seconds before answering 503, and stay slow for as long after PostgreSQL is back.
// Capped at 250 ms: a query then fails within ~0.5 s while PostgreSQL is down (tests/faults measure it)
// and each pooled connection retries at most ~4 times a second, only while queries wait: backed off,
// never a busy loop.
const backoff = (retries: number) => Math.min(0.05 * 2 ** retries, 0.25);
const quiet = { onnotice: () => {}, backoff };

export async function openDatabase(config: Pick<Config, 'databaseUrl' | 'dataDir'>): Promise<Database> {
  if (config.databaseUrl) {
    const sql = postgres(config.databaseUrl, { ...quiet, max: 10, idle_timeout: 30, connect_timeout: 5, transform: { undefined: null } }) as unknown as Sql;
    return {
      sql,
      kind: 'postgres',
      async listen(channel, onPayload) {
        await sql.listen(channel, onPayload);
      },
      close: () => sql.end({ timeout: 5 }),
    };
  }
  // Loaded lazily: a deployment on real PostgreSQL never pays for the embedded engine.
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const dir = join(config.dataDir, 'pglite');
  await mkdir(dir, { recursive: true });
  const engine = await PGlite.create(dir);
  const notifications = notificationTap(engine);
  const socket = new PGLiteSocketServer({ db: notifications.engine, host: '127.0.0.1', port: 0, maxConnections: 1 });
  await socket.start();
  const [host, port] = socket.getServerConn().split(':');
  // PGlite is single-connection: one pooled connection, queries queue in postgres.js.
  const sql = postgres({ ...quiet, host, port: Number(port), database: 'postgres', username: 'postgres', max: 1, transform: { undefined: null } }) as unknown as Sql;
  return {
    sql,
    kind: 'embedded',
    async listen(channel, onPayload) {
      notifications.on(channel, onPayload);
      await sql.unsafe(`listen ${channel}`);
    },
    async close() {
      await sql.end({ timeout: 5 });
      await socket.stop();
      await engine.close();
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
