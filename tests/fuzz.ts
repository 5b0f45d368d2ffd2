// The long fuzz run, `make fuzz` (FUZZ_CASES, default 20000; FUZZ_SEED, default 20260101; FUZZ_ONLY=N
// replays case N alone): the generator and oracle of tests/security/fuzz.test.ts, more cases, on the
// stores the environment names. Prints one JSON summary line; exit status 1 on any failure.
import { startTestTether } from './support/tether.ts';
import * as fixtures from './support/fixtures.ts';
import { buildWorld, runFuzz } from './support/fuzz.ts';

const seed = Number(process.env.FUZZ_SEED ?? 20260101);
const cases = Number(process.env.FUZZ_CASES ?? 20000);
const only = process.env.FUZZ_ONLY === undefined ? undefined : Number(process.env.FUZZ_ONLY);

const t = await startTestTether({ SWEEP_INTERVAL: '0', LOG_LEVEL: 'error', TRUSTED_PROXIES: '127.0.0.1' });
let failed = true;
try {
  const world = await buildWorld(t, fixtures);
  const report = await runFuzz(t, world, { seed, cases, only, onProgress: (done) => process.stderr.write(`fuzz: ${done}/${cases}\n`) });
  for (const failure of report.failures.slice(0, 50)) console.error(failure);
  console.log(JSON.stringify({ mode: process.env.DATABASE_URL ? 'real' : 'embedded', ...report, failures: report.failures.length }));
  failed = report.failures.length > 0 || report.errorLogLines > 0;
} finally {
  await t.close();
}
process.exit(failed ? 1 : 0);
