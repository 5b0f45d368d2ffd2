// The embedded PostgreSQL (PGlite) engine, opened with memory settings for a small embedded database,
// its data directory made (initdb) in a child process on the first start.
//
// Measured (bench/embeddedMemory.ts, README "Performance"): PGlite's defaults are PostgreSQL's
// (shared_buffers 128MB, maintenance_work_mem 64MB), and its initdb runs a second WebAssembly instance
// whose memory the process keeps after initdb ends: 800-960 MB RSS after a first start, ~300 MB after
// a restart. shared_buffers 16MB and maintenance_work_mem 16MB (an embedded database is small: the
// demo, a few users, sessions and the audit log) and initdb in a child that exits bring both to
// ~160-200 MB. The child also keeps the event loop free during initdb, so a signal then is answered.
import { spawn } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { PGlite as PGliteEngine } from '@electric-sql/pglite';

export const EMBEDDED_SETTINGS = ['shared_buffers=16MB', 'maintenance_work_mem=16MB'];

/** Runs PGlite's initdb for `dir` in a child process (killed if this process exits first). */
export function initdbInChild(dir: string): Promise<void> {
  const pglite = import.meta.resolve('@electric-sql/pglite');
  const script = `const { PGlite } = await import(${JSON.stringify(pglite)}); const db = await PGlite.create(process.argv[1]); await db.close();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    const killChild = () => child.kill('SIGKILL');
    process.on('exit', killChild);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      process.off('exit', killChild);
      if (code === 0) resolve();
      else reject(new Error(`the embedded database's initdb failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
}

export async function openPglite(dir: string): Promise<PGliteEngine> {
  const { PGlite } = await import('@electric-sql/pglite');
  if (!existsSync(join(dir, 'PG_VERSION'))) {
    // PGLITE_INITDB_TEMPLATE: a directory holding a fresh initdb's output, copied instead of running
    // initdb again (several seconds of CPU). The test runner makes one per run for its hundreds of
    // embedded starts; nothing else needs it.
    const template = process.env.PGLITE_INITDB_TEMPLATE;
    if (template && existsSync(join(template, 'PG_VERSION'))) cpSync(template, dir, { recursive: true });
    else await initdbInChild(dir);
  }
  return PGlite.create(dir, { startParams: [...PGlite.defaultStartParams, ...EMBEDDED_SETTINGS.flatMap((s) => ['-c', s])] });
}
