// `make capacity` (node bench/capacity.ts [RESULTS] [--write-readme] [--readme PATH]): the capacity
// model. Reads a bench results file (default bench/results/latest.json, written by `make bench`), takes
// the CPU each process spent per validated call (Tether, Redis, PostgreSQL; read from /proc by
// bench/cpu.ts) in the `me` and `agents.list` scenarios and the bytes one audit row takes in
// PostgreSQL, and prints what 10k, 100k and 1M calls per second need. With --write-readme it rewrites
// the README's table between the capacity markers, so the table is always this script's output for the
// results file it names (tests/tools/capacity.test.ts checks that).
import { readFileSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

const ROOT = new URL('..', import.meta.url).pathname;

export const BEGIN = '<!-- capacity:begin -->';
export const END = '<!-- capacity:end -->';

/** The assumptions the table is computed with (stated under it). */
export const MODEL = {
  /** Each process is planned at this share of its cores: room for peaks, GC, failover. */
  headroom: 0.7,
  /** A Redis shard is one single-threaded redis-server: at most one core of work. */
  coresPerRedisShard: 1,
  /** The cores one PostgreSQL primary is taken to give: every audit row is written on the primary. */
  postgresPrimaryCores: 32,
  /** Audit days kept (RETENTION_DAYS' default). */
  retentionDays: 90,
  rates: [10_000, 100_000, 1_000_000],
} as const;

/**
 * The scenarios the model reads, by the names bench/run.ts gives them, the first one a run has (older
 * runs' names last). agents.list is planned at its cost when the page comes from PostgreSQL (a different
 * page each call: the per-process memo misses), the heavier case; a run without that scenario (a short
 * one without agents1m) falls back to the same page each call.
 */
export const CALLS = [
  { call: 'me', scenarios: ['tether: me (validated call)'] },
  {
    call: 'agents.list',
    scenarios: [
      'tether: agents.list, 1M agents, a different page each call (memo misses)',
      'tether: agents.list, 100k agents, a different page each call (memo misses)',
      'tether: agents.list, 1,000 agents',
      'tether: agents.list (hot path)',
    ],
  },
] as const;

export interface CpuPerCall {
  server: number;
  redis: number;
  postgres: number;
}

export interface BenchResults {
  at?: string;
  short?: boolean;
  duration_s?: number;
  audit_bytes_per_row?: { per_row: number | null; bytes?: number; rows?: number; source?: string };
  results: Array<{ scenario: string; cpu_us?: CpuPerCall & { total?: number; generator?: number } }>;
}

export interface Row {
  rate: number;
  call: string;
  tetherCores: number;
  redisCores: number;
  redisShards: number;
  postgresCores: number;
  auditRowsPerSecond: number;
  auditMbPerSecond: number;
  auditGbPerDay: number;
  pastOneNode: string;
}

export interface Model {
  source: string;
  at: string;
  short: boolean;
  durationS?: number;
  cpu: Record<string, CpuPerCall>;
  /** The scenario each call's CPU was read from. */
  scenarioOf: Record<string, string>;
  auditBytesPerRow: number;
  auditBytesSource: string;
  rows: Row[];
  /** The rate (calls/s) at which each single-node bound is reached, per call. */
  limits: Record<string, { redisShard: number; postgresPrimary: number }>;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** Cores a process needs for `rate` calls/s at `us` microseconds of its CPU per call, within the headroom. */
export const coresFor = (rate: number, us: number) => (rate * us) / 1e6 / MODEL.headroom;

export function model(results: BenchResults, source: string): Model {
  const cpu: Record<string, CpuPerCall> = {};
  const scenarioOf: Record<string, string> = {};
  for (const { call, scenarios } of CALLS) {
    const found = (scenarios as readonly string[]).map((name) => results.results.find((r) => r.scenario === name)).find(Boolean);
    if (!found) throw new Error(`${source}: no "${scenarios[0]}" scenario: run \`make bench\``);
    if (!found.cpu_us) throw new Error(`${source}: the "${found.scenario}" scenario has no cpu_us (a bench from before the per-process CPU was read): run \`make bench\``);
    const { server, redis, postgres } = found.cpu_us;
    cpu[call] = { server, redis, postgres };
    scenarioOf[call] = found.scenario;
  }
  const perRow = results.audit_bytes_per_row?.per_row;
  if (!perRow) throw new Error(`${source}: no audit_bytes_per_row (a bench from before the audit's size was read): run \`make bench\``);
  const rows: Row[] = [];
  for (const { call } of CALLS) {
    const c = cpu[call];
    for (const rate of MODEL.rates) {
      const redisCores = coresFor(rate, c.redis);
      const redisShards = Math.max(1, Math.ceil(redisCores / MODEL.coresPerRedisShard - 1e-9));
      const postgresCores = coresFor(rate, c.postgres);
      const past: string[] = [];
      if (redisShards > 1) past.push(`Redis: ${redisShards} shards`);
      if (postgresCores > MODEL.postgresPrimaryCores) past.push('PostgreSQL: past one primary');
      rows.push({
        rate,
        call,
        tetherCores: round1(coresFor(rate, c.server)),
        redisCores: round1(redisCores),
        redisShards,
        postgresCores: round1(postgresCores),
        auditRowsPerSecond: rate,
        auditMbPerSecond: round1((rate * perRow) / 1e6),
        auditGbPerDay: Math.round((rate * 86_400 * perRow) / 1e9),
        pastOneNode: past.length ? past.join('; ') : 'none',
      });
    }
  }
  const limits: Model['limits'] = {};
  for (const { call } of CALLS) {
    const c = cpu[call];
    limits[call] = {
      redisShard: Math.floor((MODEL.headroom * MODEL.coresPerRedisShard * 1e6) / Math.max(0.1, c.redis)),
      postgresPrimary: Math.floor((MODEL.headroom * MODEL.postgresPrimaryCores * 1e6) / Math.max(0.1, c.postgres)),
    };
  }
  return {
    source,
    at: results.at ?? 'unknown',
    short: results.short === true,
    durationS: results.duration_s,
    cpu,
    scenarioOf,
    auditBytesPerRow: perRow,
    auditBytesSource: results.audit_bytes_per_row?.source ?? 'the bench',
    rows,
    limits,
  };
}

const n = (x: number) => x.toLocaleString('en-US');

/** The README block between the markers (markers included). */
export function render(m: Model): string {
  const run = m.short ? `a short run, ${m.durationS ?? '?'} s per scenario` : `a full run, ${m.durationS ?? '?'} s per scenario`;
  // The single-node bounds in the order `me` reaches them.
  const bounds = [
    { name: "one Redis shard's core", key: 'redisShard' as const },
    { name: `one PostgreSQL primary's ${MODEL.postgresPrimaryCores} cores (the audit's writes and the session reads)`, key: 'postgresPrimary' as const },
  ].sort((x, y) => m.limits.me[x.key] - m.limits.me[y.key]);
  const at = (b: (typeof bounds)[number]) => `${n(m.limits.me[b.key])} \`me\` calls/s (${n(m.limits['agents.list'][b.key])} \`agents.list\`)`;
  const tb = (gb: number) => (gb >= 1000 ? `${round1(gb / 1000)} TB` : `${gb} GB`);
  const lines = [
    BEGIN,
    `Generated by \`make capacity\` from \`${m.source}\` (bench of ${m.at}, ${run}); do not edit by hand.`,
    '',
    '| validated calls/s | call | Tether cores | Redis cores | Redis shards | PostgreSQL cores | audit rows/s | audit MB/s | audit per day | past one node |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...m.rows.map((r) => `| ${n(r.rate)} | ${r.call} | ${r.tetherCores} | ${r.redisCores} | ${r.redisShards} | ${r.postgresCores} | ${n(r.auditRowsPerSecond)} | ${r.auditMbPerSecond} | ${tb(r.auditGbPerDay)} | ${r.pastOneNode} |`),
    '',
    `CPU per call measured (microseconds): ${Object.entries(m.cpu)
      .map(([call, c]) => `${call} ("${m.scenarioOf[call]}"): Tether ${c.server}, Redis ${c.redis}, PostgreSQL ${c.postgres}`)
      .join('; ')}. One audit row: ${m.auditBytesPerRow} bytes (${m.auditBytesSource}).`,
    '',
    `First limit: ${bounds[0].name}, at about ${at(bounds[0])}; then ${bounds[1].name}, at about ${at(bounds[1])}. Tether itself has none: more instances.`,
    '',
    'Assumptions:',
    `- cores = calls/s x CPU microseconds per call / 1,000,000 / ${MODEL.headroom}: every process planned at ${Math.round(MODEL.headroom * 100)}% of its cores; the CPU per call stays what this machine measured at any rate (no network between hosts on loopback, no cost of more connections).`,
    `- A Redis shard is one single-threaded redis-server: at most ${MODEL.coresPerRedisShard} core, so ${MODEL.headroom} core of work at that headroom; shards = Redis cores rounded up, spread evenly by hash slot (Redis Cluster past one).`,
    '- Tether instances share nothing: its cores spread over as many instances (and `WORKERS`) as needed behind a load balancer.',
    `- PostgreSQL is one primary (every audit row and every session write lands there), taken to give ${MODEL.postgresPrimaryCores} cores; its CPU per call here is mostly the audit's batched COPY (\`me\` reads no table on a cache hit).`,
    `- One audit row per validated call; storage = rows/s x 86,400 x bytes per row (heap and indexes; WAL, replicas and backups not counted); ${MODEL.retentionDays} days kept (RETENTION_DAYS' default) is ${MODEL.retentionDays} times the day's figure.`,
    END,
  ];
  return lines.join('\n');
}

/** The README with its capacity block replaced; throws when the markers are missing. */
export function withBlock(readme: string, block: string): string {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`README has no ${BEGIN} ... ${END} block`);
  return readme.slice(0, begin) + block + readme.slice(end + END.length);
}

/** The block now in the README (markers included), and the results file it names. */
export function currentBlock(readme: string): { block: string; source: string } {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`README has no ${BEGIN} ... ${END} block`);
  const block = readme.slice(begin, end + END.length);
  const source = /from `([^`]+)`/.exec(block)?.[1];
  if (!source) throw new Error('the capacity block names no results file');
  return { block, source };
}

/** The path as the README names it: relative to the repository. */
export const sourceName = (path: string) => relative(ROOT, resolve(path));

function main(argv: string[]) {
  const write = argv.includes('--write-readme');
  const readmeAt = argv.indexOf('--readme');
  const readmePath = readmeAt >= 0 ? argv[readmeAt + 1] : resolve(ROOT, 'README.md');
  const positional = argv.filter((a, i) => !a.startsWith('--') && (readmeAt < 0 || i !== readmeAt + 1));
  if (positional.length > 1) throw new Error(`one results file at most, got: ${positional.join(' ')}`);
  const resultsPath = positional[0] ?? resolve(ROOT, 'bench/results/latest.json');
  const results = JSON.parse(readFileSync(resultsPath, 'utf8')) as BenchResults;
  const block = render(model(results, sourceName(resultsPath)));
  console.log(block);
  if (write) {
    const before = readFileSync(readmePath, 'utf8');
    const after = withBlock(before, block);
    if (after !== before) writeFileSync(readmePath, after);
    console.error(after === before ? `${readmePath}: the capacity table is already this` : `${readmePath}: capacity table rewritten`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    console.error(`capacity: ${(err as Error).message}`);
    process.exit(1);
  }
}
