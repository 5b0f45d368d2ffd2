// A running embedded server publishes where its PGlite answers (DATA_DIR/server.json), so that
// `npx tether` on the same DATA_DIR goes through that one database instead of opening the directory.
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { isAlive } from './dataDirLock.ts';

export interface PublishedServer {
  pid: number;
  /** The PGlite socket (PostgreSQL wire protocol, loopback only). */
  host: string;
  port: number;
  started_at: string;
}

export const addressFileOf = (dataDir: string) => join(dataDir, 'server.json');

/** Written once the migrations are applied (a command never sees a half-migrated schema); removed at close. */
export function publishServer(dataDir: string, address: Omit<PublishedServer, 'pid' | 'started_at'>): () => void {
  const file = addressFileOf(dataDir);
  const published: PublishedServer = { pid: process.pid, ...address, started_at: new Date().toISOString() };
  writeFileSync(`${file}.${process.pid}`, JSON.stringify(published) + '\n', { mode: 0o600 });
  renameSync(`${file}.${process.pid}`, file); // readers never see a half-written file
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    process.off('exit', remove);
    try {
      if ((JSON.parse(readFileSync(file, 'utf8')) as PublishedServer).pid === process.pid) unlinkSync(file);
    } catch {
      // already gone
    }
  };
  process.on('exit', remove);
  return remove;
}

function answers(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The server published under dataDir, when its pid is alive and its address accepts a connection. */
export async function findRunningServer(dataDir: string): Promise<PublishedServer | undefined> {
  let published: PublishedServer;
  try {
    published = JSON.parse(readFileSync(addressFileOf(dataDir), 'utf8')) as PublishedServer;
  } catch {
    return undefined;
  }
  if (!isAlive(published.pid)) return undefined;
  return (await answers(published.host, published.port, 1000)) ? published : undefined;
}
