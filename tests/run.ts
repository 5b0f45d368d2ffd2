// Runs every tests/**/*.test.ts in its own process (a fresh server and stores each), and prints the
// totals as the last line: `N passed, N failed, N skipped`, after the names of the skipped tests (a
// test for the other store mode is a skip, never a pass: tests/support/modes.ts).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { initdbInChild } from '../server/embedded/pgliteEngine.ts';
import { SKIP_MARK } from './support/modes.ts';

const root = new URL('.', import.meta.url).pathname;
const only = process.argv.slice(2);
// 600 s: a file that hangs is still stopped, and a slow one on a loaded 2-core machine (the doctor's
// CLI runs took over 200 s at load 20) is not.
const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 600_000);

function findTests(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'support' ? [] : findTests(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

function runFile(file: string): Promise<{ passed: number; failed: number; skipped: number; skippedNames: string[]; output: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=tether-source', file], { env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n[runner] killed after ${FILE_TIMEOUT_MS} ms\n`;
      child.kill('SIGKILL');
    }, FILE_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const clean = output.replace(/\x1b\[[0-9;]*m/g, '');
      const total = Number(/Total:\s+(\d+)/.exec(clean)?.[1] ?? 0);
      const passed = Number(/Passed:\s+(\d+)/.exec(clean)?.[1] ?? 0);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(clean)?.[1] ?? 0);
      // uvu's Total counts the tests that ran (skips are not in it): a test that ran and did not pass failed.
      let failed = total - passed;
      const skippedNames = clean.split('\n').filter((l) => l.startsWith(SKIP_MARK)).map((l) => l.slice(SKIP_MARK.length).trim());
      // A file that crashed or exited non-zero without a failing test still counts as a failure.
      if (code !== 0 && failed === 0) failed = 1;
      resolve({ passed, failed, skipped, skippedNames, output: clean, ms: Date.now() - started });
    });
  });
}

// Files run TEST_JOBS at a time (default 3): most of a file's time is waiting on a server to start,
// a TTL to run out or a store to come back, not CPU. The slow files start first so the tail is short.
const SLOW = ['cluster/', 'faults/', 'client/client.test', 'cli.test', 'cli-operator.test', 'client/package.test', 'doctor.test', 'sweeper.test', 'readiness.test', 'expiry.test', 'fingerprint.test', 'lifecycle.test', 'security/'];
const weight = (f: string) => {
  const i = SLOW.findIndex((s) => f.includes(s));
  return i === -1 ? SLOW.length : i;
};
const files = findTests(root)
  // Matched against the path under tests/, so a checkout whose own path holds the fragment does not match every file.
  .filter((f) => only.length === 0 || only.some((o) => relative(root, f).includes(o)))
  .sort((a, b) => weight(a) - weight(b) || a.localeCompare(b));
const jobs = Math.max(1, Number(process.env.TEST_JOBS ?? 3));

// Embedded mode: one PGlite initdb for the whole run, copied by every embedded start in every file
// (PGLITE_INITDB_TEMPLATE, server/embedded/pgliteEngine.ts) instead of several seconds of CPU each.
let template: string | undefined;
if (!process.env.DATABASE_URL && !process.env.PGLITE_INITDB_TEMPLATE) {
  template = mkdtempSync(join(tmpdir(), 'tether-initdb-'));
  await initdbInChild(template);
  process.env.PGLITE_INITDB_TEMPLATE = template;
  process.on('exit', () => rmSync(template!, { recursive: true, force: true }));
}
let passed = 0;
let failed = 0;
let skipped = 0;
const skippedNames: string[] = [];
let next = 0;
const started = Date.now();
async function worker(): Promise<void> {
  while (next < files.length) {
    const file = files[next++];
    const result = await runFile(file);
    passed += result.passed;
    failed += result.failed;
    skipped += result.skipped;
    const name = relative(root, file);
    // A skip without its `[skip]` name line (a bare test.skip) is still listed, by file.
    const names = result.skippedNames.length >= result.skipped ? result.skippedNames : [...result.skippedNames, ...Array(result.skipped - result.skippedNames.length).fill('(unnamed)')];
    skippedNames.push(...names.map((n) => `${name}: ${n}`));
    console.log(`${result.failed ? 'FAIL' : 'ok  '} ${name}  ${result.passed} passed, ${result.failed} failed, ${result.skipped} skipped  (${(result.ms / 1000).toFixed(1)} s)`);
    if (result.failed || process.env.TEST_VERBOSE) console.log(result.output.split('\n').map((l) => '    ' + l).join('\n'));
  }
}
await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker));
console.log(`${files.length} files in ${((Date.now() - started) / 1000).toFixed(0)} s, ${jobs} at a time`);
for (const n of skippedNames) console.log(`skipped: ${n}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
