// The capacity model (bench/capacity.ts, `make capacity`), run as a user runs it: on a committed
// fixture results file its table holds what the formula gives (cores = calls/s x microseconds per call
// / 1e6 / headroom, shards, audit rows and bytes), --write-readme is idempotent, a results file
// without per-process CPU is refused, and the README's "Scaling out" table is exactly the script's
// output for the results file the README names. No store is touched: the same in both modes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BEGIN, END, MODEL } from '../../bench/capacity.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const SCRIPT = join(ROOT, 'bench/capacity.ts');
const FIXTURE = join(ROOT, 'tests/tools/fixtures/capacity-results.json');
const work = mkdtempSync(join(tmpdir(), 'tether-capacity-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

function capacity(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The table's rows as cells, by "rate call". */
function tableOf(out: string): Map<string, string[]> {
  const rows = out.split('\n').filter((l) => /^\| [\d,]+ \| /.test(l));
  return new Map(rows.map((l) => l.split('|').slice(1, -1).map((c) => c.trim())).map((cells) => [`${cells[0].replace(/,/g, '')} ${cells[1]}`, cells]));
}

const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { audit_bytes_per_row: { per_row: number }; results: Array<{ scenario: string; cpu_us: { server: number; redis: number; postgres: number } }> };
const cpuOf = (scenario: string) => fixture.results.find((r) => r.scenario === scenario)!.cpu_us;
const fixtureCpu = { me: cpuOf('tether: me (validated call)'), 'agents.list': cpuOf('tether: agents.list, 1,000 agents') };

test('on the fixture: every row is calls/s x us / 1e6 / headroom, shards rounded up, audit rows and bytes per second and day', async () => {
  const r = await capacity([FIXTURE]);
  assert.is(r.code, 0, r.stderr);
  const table = tableOf(r.stdout);
  assert.is(table.size, 6, r.stdout);
  const bytes = fixture.audit_bytes_per_row.per_row;
  const one = (x: number) => String(Math.round(x * 10) / 10);
  for (const [call, cpu] of Object.entries(fixtureCpu)) {
    for (const rate of [10_000, 100_000, 1_000_000]) {
      const cells = table.get(`${rate} ${call}`);
      assert.ok(cells, `a row for ${rate} ${call}`);
      const [, , tether, redis, shards, postgres, rows, mbs] = cells;
      assert.is(tether, one((rate * cpu.server) / 1e6 / 0.7), `${rate} ${call}: Tether cores`);
      assert.is(redis, one((rate * cpu.redis) / 1e6 / 0.7), `${rate} ${call}: Redis cores`);
      assert.is(Number(shards), Math.max(1, Math.ceil(Math.round(((rate * cpu.redis) / 1e6 / 0.7) * 1e6) / 1e6)), `${rate} ${call}: shards`);
      assert.is(postgres, one((rate * cpu.postgres) / 1e6 / 0.7), `${rate} ${call}: PostgreSQL cores`);
      assert.is(rows, rate.toLocaleString('en-US'), 'one audit row per call');
      assert.is(mbs, one((rate * bytes) / 1e6), `${rate} ${call}: audit MB/s`);
    }
  }
  // The same figures worked by hand, the edges included: exactly one shard's worth is one shard.
  const me100k = table.get('100000 me')!;
  assert.equal(me100k.slice(2, 6), ['7.1', '1', '1', '2'], '100k me: 7.1 Tether cores, 1.0 Redis core in 1 shard, 2 PostgreSQL cores');
  assert.is(table.get('10000 me')![8], '216 GB', '10,000 rows/s x 86,400 s x 250 bytes');
  assert.is(table.get('1000000 me')![8], '21.6 TB');
  assert.is(table.get('1000000 me')![9], 'Redis: 10 shards');
  assert.is(table.get('1000000 agents.list')![9], 'Redis: 20 shards; PostgreSQL: past one primary', '100 PostgreSQL cores are past one primary of 32');
  assert.is(table.get('10000 agents.list')![9], 'none');
  // One shard tops out at 0.7 core: 0.7e6 / 7 us; one primary at 0.7 x 32 cores: 22.4e6 / 14 us.
  assert.match(r.stdout, /First limit: one Redis shard's core, at about 100,000 `me` calls\/s \(50,000 `agents.list`\); then one PostgreSQL primary's 32 cores [^,]*, at about 1,600,000 `me` calls\/s \(320,000 `agents.list`\)/);
  assert.ok(r.stdout.includes('from `tests/tools/fixtures/capacity-results.json`'), 'the block names its results file');
  assert.is(MODEL.headroom, 0.7, 'the headroom this test computes with');
});

test('--write-readme replaces only the block between the markers, and a second run changes nothing', async () => {
  const readme = join(work, 'README.md');
  const before = `# A README\n\nText before.\n\n${BEGIN}\nan old table\n${END}\n\nText after.\n`;
  writeFileSync(readme, before);
  const first = await capacity([FIXTURE, '--write-readme', '--readme', readme]);
  assert.is(first.code, 0, first.stderr);
  const once = readFileSync(readme, 'utf8');
  assert.ok(once.startsWith('# A README\n\nText before.\n\n' + BEGIN + '\n'), once);
  assert.ok(once.endsWith(`${END}\n\nText after.\n`), once);
  assert.not.ok(once.includes('an old table'));
  assert.ok(once.includes(first.stdout.trim()), 'the block written is the block printed');
  const second = await capacity([FIXTURE, '--write-readme', '--readme', readme]);
  assert.is(second.code, 0, second.stderr);
  assert.is(readFileSync(readme, 'utf8'), once, 'idempotent');
  assert.match(second.stderr, /already/);

  // A README without the markers is refused, not appended to.
  writeFileSync(readme, '# no markers\n');
  const refused = await capacity([FIXTURE, '--write-readme', '--readme', readme]);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, /capacity:begin/);
  assert.is(readFileSync(readme, 'utf8'), '# no markers\n');
});

test('a results file without per-process CPU or without the audit row size is refused, naming make bench', async () => {
  const noCpu = join(work, 'no-cpu.json');
  const copy = JSON.parse(readFileSync(FIXTURE, 'utf8'));
  for (const r of copy.results) delete r.cpu_us;
  writeFileSync(noCpu, JSON.stringify(copy));
  const a = await capacity([noCpu]);
  assert.is(a.code, 1);
  assert.match(a.stderr, /no cpu_us.*make bench/);
  const noBytes = join(work, 'no-bytes.json');
  const copy2 = JSON.parse(readFileSync(FIXTURE, 'utf8'));
  delete copy2.audit_bytes_per_row;
  writeFileSync(noBytes, JSON.stringify(copy2));
  const b = await capacity([noBytes]);
  assert.is(b.code, 1);
  assert.match(b.stderr, /audit_bytes_per_row.*make bench/);
});

test("the README's Scaling out table is exactly what the script makes from the results file it names", async () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  assert.ok(begin > 0 && end > begin, 'the README has the capacity markers');
  const heading = readme.slice(readme.lastIndexOf('\n## ', begin) + 1).split('\n')[0];
  assert.is(heading, '## Scaling out', 'the table sits in the Scaling out section');
  const block = readme.slice(begin, end + END.length);
  const source = /from `([^`]+)`/.exec(block)?.[1];
  assert.ok(source, 'the block names its results file');
  const r = await capacity([join(ROOT, source)]);
  assert.is(r.code, 0, r.stderr);
  assert.is(block, r.stdout.trim(), `README.md's table is not what \`make capacity RESULTS=${source}\` makes: run it`);
  // And the file named is committed with the repository, not a local run's.
  const tracked = await new Promise<string>((resolve) => {
    const git = spawn('git', ['ls-files', '--error-unmatch', source], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    // 1: not in the index; 128: not a git checkout at all (an unpacked tarball), nothing to check.
    git.on('close', (code) => resolve(code === 1 ? 'untracked' : code === 0 ? 'tracked' : 'no git'));
    git.on('error', () => resolve('no git'));
  });
  assert.ok(tracked !== 'untracked', `${source} is not tracked by git`);
});

// A copy of the README so the check above can be shown to fail: a hand edit of one figure is caught.
test('a hand-edited figure in the table is caught by the comparison', async () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const begin = readme.indexOf(BEGIN);
  const block = readme.slice(begin, readme.indexOf(END) + END.length);
  const source = /from `([^`]+)`/.exec(block)![1];
  const edited = block.replace(/\| 10,000 \| me \| [\d.]+ \|/, '| 10,000 | me | 999 |');
  assert.is.not(edited, block, 'the edit applies');
  const r = await capacity([join(ROOT, source)]);
  assert.is.not(edited, r.stdout.trim());
  const copy = join(work, 'README.edited.md');
  copyFileSync(join(ROOT, 'README.md'), copy);
  writeFileSync(copy, readme.replace(block, edited));
  const fixed = await capacity([join(ROOT, source), '--write-readme', '--readme', copy]);
  assert.is(fixed.code, 0, fixed.stderr);
  assert.is(readFileSync(copy, 'utf8'), readme, 'make capacity puts the generated table back');
});

test.run();
