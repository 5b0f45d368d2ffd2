// Tests that apply to one store mode only. Real mode is DATABASE_URL set (real PostgreSQL + Redis);
// embedded is PGlite + the in-process cache. A test for the other mode is registered as a uvu skip
// and announced with a `[skip]` line, which tests/run.ts counts and lists: never a silent pass.
import type { Test } from 'uvu';
import { realStores } from './tether.ts';

export type Mode = 'real' | 'embedded';
export const currentMode: Mode = realStores ? 'real' : 'embedded';

/** The line tests/run.ts collects as a skipped test's name. */
export const SKIP_MARK = '[skip] ';

export function testIn(test: Test, mode: Mode, name: string, fn: () => Promise<void> | void): void {
  const fullName = `${name} (${mode} mode only)`;
  if (mode === currentMode) {
    test(fullName, fn);
    return;
  }
  test.skip(fullName, fn);
  console.log(`${SKIP_MARK}${fullName}`);
}

/**
 * Appended to the name of a test whose figures differ by mode: on the shared real stores other test
 * files write too, so counts are lower bounds; embedded stores are this file's alone, so they are exact.
 */
export const FIGURES = realStores ? ' [real mode: counts are lower bounds on shared stores]' : ' [embedded: exact counts]';
