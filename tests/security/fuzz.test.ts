// A short seeded fuzz run (FUZZ_CASES, default 2000; FUZZ_SEED, default 20260101) over real HTTP:
// bodies, params, headers, cookies, session ids and paths from tests/support/fuzz.ts. Never a
// crash, never a 5xx other than 503 STORAGE_UNAVAILABLE, never INTERNAL_ERROR or an error log line,
// every answer a catalogue error (exact message, code, status) or a JSON-RPC result, heap flat.
// The long run is `make fuzz` (tests/fuzz.ts), the same generator with more cases.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, type TestTether } from '../support/tether.ts';
import * as fixtures from '../support/fixtures.ts';
import { buildWorld, runFuzz, type FuzzWorld } from '../support/fuzz.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20260101);
const CASES = Number(process.env.FUZZ_CASES_SHORT ?? 2000);

let t: TestTether;
let world: FuzzWorld;

test.before(async () => {
  // Errors only in the captured log (it is part of the oracle, and stays small); the fuzz's client
  // address comes through X-Forwarded-For from 127.0.0.1 (see FUZZ_IP).
  t = await startTestTether({ SWEEP_INTERVAL: '0', LOG_LEVEL: 'error', TRUSTED_PROXIES: '127.0.0.1' });
  world = await buildWorld(t, fixtures);
});
test.after(async () => {
  await t.close();
});

test(`fuzz: ${CASES} seeded cases (seed ${SEED}) -> only catalogue answers, no 5xx but 503, no crash, heap flat`, async () => {
  const report = await runFuzz(t, world, { seed: SEED, cases: CASES });
  console.log(JSON.stringify({ seed: report.seed, cases: report.cases, ms: report.ms, rss_mb: [report.rssBeforeMb, report.rssAfterMb], heap_mb: [report.heapAfterWarmupMb, report.heapAfterMb], byKind: report.byKind, byLabel: report.byLabel }));
  assert.equal(report.failures, [], report.failures.slice(0, 10).join('\n'));
  assert.is(report.errorLogLines, 0);
  assert.ok(report.heapAfterMb - report.heapAfterWarmupMb < 40, `heap grew from ${report.heapAfterWarmupMb} to ${report.heapAfterMb} MB`);
  // Variety: the run reached the handlers, not only the front door.
  for (const label of ['result', 'PARSE_ERROR', 'INVALID_REQUEST', 'INVALID_PARAMS', 'TOKEN_INVALID', 'SESSION_ID_FORMAT', 'METHOD_NOT_FOUND']) {
    assert.ok(report.byLabel[label] > 0, `no ${label} in ${JSON.stringify(report.byLabel)}`);
  }
  const alive = await fetch(`${t.url}/healthz`);
  assert.is(alive.status, 200);
});

test('fuzz: a case is reproducible from its seed and index alone', async () => {
  const { generateCase, FUZZ_IP } = await import('../support/fuzz.ts');
  const host = new URL(t.url).host;
  for (const index of [0, 17, 999]) {
    const a = generateCase(SEED, index, world, FUZZ_IP, host);
    const b = generateCase(SEED, index, world, FUZZ_IP, host);
    assert.equal({ ...a, body: a.body?.toString('base64'), raw: a.raw?.toString('base64') }, { ...b, body: b.body?.toString('base64'), raw: b.raw?.toString('base64') });
  }
});

test.run();
