// One process opens an embedded DATA_DIR at a time: DATA_DIR/tether.lock holds the owner's pid and
// role, created with O_EXCL. A lock whose pid is no longer alive (a SIGKILLed server) is stale and
// taken over. The file is removed when the owner closes, and at its exit whatever the path.
import { openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';

export type LockRole = 'server' | 'cli';

export interface LockHolder {
  pid: number;
  role: LockRole;
  started_at: string;
}

export class DataDirInUse extends Error {
  override name = 'DataDirInUse';
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder,
  ) {
    super(`DATA_DIR ${dataDir} is in use by process ${holder.pid} (${holder.role === 'server' ? 'a tether server' : 'a tether command'}, since ${holder.started_at}): one process opens an embedded data directory at a time`);
  }
}

export const lockFileOf = (dataDir: string) => join(dataDir, 'tether.lock');

/** True while a process with this pid exists (EPERM: it exists, as another user). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live holder of the lock, or undefined when there is none (no file, or a dead pid's). */
export function lockHolder(dataDir: string): LockHolder | undefined {
  let holder: LockHolder;
  try {
    holder = JSON.parse(readFileSync(lockFileOf(dataDir), 'utf8')) as LockHolder;
  } catch {
    return undefined; // absent, or half-written by a process that died between create and write
  }
  return isAlive(holder.pid) ? holder : undefined;
}

export interface DataDirLock {
  release(): void;
}

function tryCreate(file: string, holder: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, JSON.stringify(holder) + '\n');
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Takes the lock or throws DataDirInUse naming the live holder. A stale file (dead pid, or unreadable)
 * is removed and the create retried; of two processes taking over the same stale lock, O_EXCL lets
 * one win and the other sees the winner's pid.
 */
export function acquireDataDirLock(dataDir: string, role: LockRole): DataDirLock {
  const file = lockFileOf(dataDir);
  const me: LockHolder = { pid: process.pid, role, started_at: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(file, me)) {
      let held = true;
      const release = () => {
        if (!held) return;
        held = false;
        process.off('exit', release);
        try {
          // Only our own file: never one a later owner wrote after a takeover.
          if ((JSON.parse(readFileSync(file, 'utf8')) as LockHolder).pid === process.pid) unlinkSync(file);
        } catch {
          // already gone
        }
      };
      process.on('exit', release);
      return { release };
    }
    const holder = lockHolder(dataDir);
    if (holder) throw new DataDirInUse(dataDir, holder);
    try {
      unlinkSync(file); // stale: its pid is gone
    } catch {
      // another process removed it first
    }
  }
  const holder = lockHolder(dataDir);
  throw new DataDirInUse(dataDir, holder ?? { pid: 0, role: 'server', started_at: 'unknown' });
}
