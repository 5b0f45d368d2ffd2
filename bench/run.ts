// `make bench` (BENCH_SHORT=1 or `make bench-short` for a quick run): Tether beside its two
// baselines, in one run, with one load generator (autocannon) and the same connections and duration
// for each. The servers run on core 0 (taskset), this process and autocannon on core 1; PostgreSQL
// and Redis float. Tether runs as `make run` starts it (dist/ on plain node; `make bench` builds it).
// Scenarios: system.ping (no auth), me (the validated call), agents.list (the same plus its query),
// me at half its maximum rate (requests spread evenly: bench/pacedLoad.ts), login, the restore path, Redis
// down, WORKERS=2, and the memory run; every row with its ratio to the Koa echo and to
// express-session. Prints a table and writes bench/results/<time>.json and latest.json.
//
// Real stores only: DATABASE_URL (the server; a database `tether_bench` is recreated on it) and
// REDIS_URL (default: the local ones). The restore and Redis-down scenarios use a throwaway
// redis-server, so the shared one is never stopped or filled.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import autocannon from 'autocannon';
import { createClient } from 'redis';
import { pacedLoad, type LoadFigures, type PacedLoad } from './pacedLoad.ts';
import { benchWorld, freshDatabase, BENCH_IP, BENCH_LANG, BENCH_UA, type BenchWorld } from './fixtures.ts';
import { freePort, startThrowawayRedis, type ThrowawayRedis } from '../tests/support/throwaway.ts';

const SHORT = process.env.BENCH_SHORT === '1' || process.argv.includes('--short');
const DURATION = Number(process.env.BENCH_DURATION ?? (SHORT ? 4 : 12));
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const JWT_SECRET = 'bench-secret-0123456789-0123456789-0123456789';
const ROOT = new URL('..', import.meta.url).pathname;
const TWO_CORES = cpus().length >= 2;

interface Figures extends LoadFigures {
  scenario: string;
  /** req/s as a share of the Koa echo's and of express-session's, filled in at the end. */
  vs_koa?: number;
  vs_express?: number;
  note?: string;
}

const results: Figures[] = [];
const extra: Record<string, unknown> = { duration_s: DURATION, connections: CONNECTIONS, cores: cpus().length, short: SHORT, node: process.version };

// ---- processes ----

const children = new Set<ChildProcess>();
process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));

/** Tether runs as in production (`make run`): the build in dist/ on plain node; the baselines' .ts through tsx. */
const TETHER = ['dist/server/main.js'];
const loaderFor = (args: string[]) => (args[0]?.endsWith('.ts') ? ['--import', 'tsx'] : []);

async function startServer(name: string, args: string[], env: Record<string, string>, port: number, readyPath = '/healthz'): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const command = TWO_CORES ? 'taskset' : process.execPath;
  const argv = TWO_CORES ? ['-c', '0', process.execPath, ...loaderFor(args), ...args] : [...loaderFor(args), ...args];
  const child = spawn(command, argv, { cwd: ROOT, env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 150; i++) {
    const ok = await fetch(url + readyPath, { method: readyPath === '/healthz' ? 'GET' : 'POST', headers: { 'content-type': 'application/json' }, body: readyPath === '/healthz' ? undefined : '{}' })
      .then(() => true)
      .catch(() => false);
    if (ok) break;
    if (child.exitCode !== null) throw new Error(`${name} exited: ${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      children.delete(child);
    },
  };
}

// ---- load ----

interface Load {
  path: string;
  body?: string;
  headers?: Record<string, string>;
  /** Per-request body, for rotating through sessions. */
  nextBody?: () => string;
  duration?: number;
  amount?: number;
}

async function drive(scenario: string, url: string, load: Load, note?: string): Promise<Figures> {
  const result = await autocannon({
    url: url + load.path,
    method: 'POST',
    connections: CONNECTIONS,
    ...(load.amount ? { amount: load.amount } : { duration: load.duration ?? DURATION }),
    headers: { 'content-type': 'application/json', ...(load.headers ?? {}) },
    body: load.body,
    requests: load.nextBody ? [{ setupRequest: (req: Record<string, unknown>) => ({ ...req, body: load.nextBody!() }) }] : undefined,
  } as autocannon.Options);
  return recorded({
    scenario,
    rps: Math.round(result.requests.average),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    requests: result.requests.total,
    note,
  });
}

async function paced(scenario: string, url: string, load: PacedLoad, note?: string): Promise<Figures> {
  return recorded({ scenario, ...(await pacedLoad(url, load)), note });
}

/** A scenario's figures, kept for the table and printed as they come. */
function recorded(figures: Figures): Figures {
  results.push(figures);
  console.error(`  ${figures.scenario.padEnd(34)} ${String(figures.rps).padStart(7)} req/s  p50 ${figures.p50_ms} ms  p99 ${figures.p99_ms} ms  errors ${figures.errors}${figures.error_codes ? ` ${JSON.stringify(figures.error_codes)}` : ''}  non-2xx ${figures.non2xx}`);
  return figures;
}

const rpcBody = (params: Record<string, unknown>, method = 'call') => JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(url + '/metrics')).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

async function tableCounts(world: BenchWorld) {
  await new Promise((r) => setTimeout(r, 1200)); // backends report their statistics within a second
  const rows = await world.sql<{ relname: string; ins: number; upd: number }[]>`
    select case when relname like 'api_access_log%' then 'api_access_log' else relname end as relname, sum(n_tup_ins)::int as ins, sum(n_tup_upd)::int as upd
      from pg_stat_user_tables where relname = 'api_sessions' or relname like 'api\\_access\\_log\\_%' group by 1`; // the audit's rows are counted in its day partitions (sql/014)
  return Object.fromEntries(rows.map((r) => [r.relname, { ins: r.ins, upd: r.upd }]));
}

// ---- the run ----

async function main() {
  console.error(`bench: ${DURATION} s per scenario, ${CONNECTIONS} connections, ${cpus().length} cores${TWO_CORES ? ' (servers on core 0, load on core 1)' : ''}`);
  const koaPort = await freePort();
  const koa = await startServer('koa echo', ['bench/baselines/koaEcho.ts'], {}, koaPort, '/');
  const koaFigures = await drive('baseline 1: koa json-rpc echo', koa.url, { path: '/', body: rpcBody({ limit: 20 }) });
  // Kept (idle) for the paced latency run beside Tether's below.

  const expressPort = await freePort();
  const express = await startServer('express-session', ['bench/baselines/expressSession.ts'], { REDIS_URL }, expressPort, '/call');
  const login = await fetch(`${express.url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: rpcBody({}) });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0];
  const expressFigures = await drive('baseline 2: express-session + redis', express.url, { path: '/call', body: rpcBody({ limit: 20 }), headers: { cookie } });
  await express.stop();

  const databaseUrl = await freshDatabase(ADMIN_URL, 'tether_bench');
  const world = await benchWorld(databaseUrl, JWT_SECRET);
  const headers = { authorization: `Bearer ${world.token}`, 'user-agent': BENCH_UA, 'accept-language': BENCH_LANG };
  // The login scenario sends 32 logins of one account at a time: the throttle (at most
  // LOGIN_MAX_FAILURES_PER_LOGIN attempts of an account in flight) is set out of its way, still counting.
  const tetherEnv = { DATABASE_URL: databaseUrl, REDIS_URL, JWT_SECRET, LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', MAX_SESSIONS_PER_USER: '10000', LOGIN_MAX_FAILURES_PER_LOGIN: '1000000', LOGIN_MAX_FAILURES_PER_IP: '0' };
  const tetherPort = await freePort();
  const tether = await startServer('tether', TETHER, tetherEnv, tetherPort);

  extra.rss_at_start_mb = Math.round((await metric(tether.url, 'tether_process_resident_memory_bytes')) / 1e6);

  // No auth at all (the transport's own cost), then the validated call (bearer + session + fingerprint
  // + sliding TTL + audit) alone and with its query, on a warm cache.
  const [hotSession] = await world.openSessions(1);
  const hotBody = rpcBody({ session_id: hotSession, limit: 20 });
  await drive('warm-up', tether.url, { path: '/api/v1/agents/list', body: hotBody, headers, duration: 2 });
  results.pop();
  await drive('tether: system.ping (no auth)', tether.url, { path: '/jsonrpc', body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'system.ping' }) });
  // me takes no params but the session id (a `limit` would be -32602, HTTP 400 on /api/v1).
  const meBody = rpcBody({ session_id: hotSession });
  const me = await drive('tether: me (validated call)', tether.url, { path: '/api/v1/me', body: meBody, headers });
  const before = await tableCounts(world);
  const hot = await drive('tether: agents.list (hot path)', tether.url, { path: '/api/v1/agents/list', body: hotBody, headers });
  const after = await tableCounts(world);
  const calls = hot.requests;
  extra.postgres_writes_hot_path = {
    calls,
    audit_rows_inserted: (after.api_access_log?.ins ?? 0) - (before.api_access_log?.ins ?? 0),
    api_sessions_rows_updated: (after.api_sessions?.upd ?? 0) - (before.api_sessions?.upd ?? 0),
    note: 'audit rows arrive in batches (one INSERT per 200 ms or 500 rows); last_activity is written at most once a minute per session',
  };
  // Latency with headroom: half the rate `me` reached above, the requests spread evenly (pacedLoad.ts
  // says why not autocannon's rate limit), each timed from the moment it was due.
  const half = await paced('tether: me at half its max rate', tether.url, { path: '/api/v1/me', body: meBody, headers, rate: Math.max(1, Math.round(me.rps / 2)), durationSeconds: DURATION }, 'paced evenly (bench/pacedLoad.ts)');
  extra.me_p99_at_half_max_ms = half.p99_ms;
  // The same paced load on the Koa echo: what this machine and generator allow at that rate.
  const echoPaced = await paced('baseline 1 at the same paced rate', koa.url, { path: '/', body: rpcBody({ limit: 20 }), headers: {}, rate: half.requests / DURATION, durationSeconds: DURATION }, 'the floor of the p99 above');
  extra.echo_p99_at_same_rate_ms = echoPaced.p99_ms;
  await koa.stop();
  await drive('tether: users.login', tether.url, { path: '/api/v1/users/login', body: rpcBody({ login: world.login, password: world.password }), headers, duration: Math.min(DURATION, 6) }, 'argon2id dominates by design');
  extra.rss_after_hot_mb = Math.round((await metric(tether.url, 'tether_process_resident_memory_bytes')) / 1e6);
  await tether.stop();

  // Restore path: a throwaway Redis too small for the sessions in rotation (LRU), so nearly every
  // call misses and PostgreSQL answers. The hit ratio is measured, not assumed.
  const redis = await startThrowawayRedis();
  const restoreEnv = { ...tetherEnv, REDIS_URL: redis.url };
  const restore = async (label: string, pool: string[]) => {
    await tuneSmallCache(redis);
    const server = await startServer('tether', TETHER, restoreEnv, await freePort());
    let i = 0;
    const bodies = pool.map((id) => rpcBody({ session_id: id, limit: 20 }));
    const figures = await drive(label, server.url, { path: '/api/v1/agents/list', headers, nextBody: () => bodies[i++ % bodies.length] });
    const hits = await metric(server.url, 'tether_session_cache_lookups_total{result="hit"}');
    const misses = await metric(server.url, 'tether_session_cache_lookups_total{result="miss"}');
    figures.note = `cache hit ratio ${((100 * hits) / Math.max(1, hits + misses)).toFixed(1)}%`;
    await server.stop();
    return figures;
  };
  const pool = await world.openSessions(SHORT ? 2000 : 5000);
  await world.fillSessionsTo(10_000);
  const restore10k = await restore('tether: restore path, 10k rows', pool);
  if (!SHORT) {
    await world.fillSessionsTo(1_000_000);
    const restore1m = await restore('tether: restore path, 1M rows', pool);
    extra.restore_cost_ratio_1m_vs_10k = Math.round((restore10k.rps / Math.max(1, restore1m.rps)) * 100) / 100;
  }

  // Memory: many validated calls across many sessions (full run; BENCH_MEMORY_CALLS / _SESSIONS to
  // change), RSS sampled from /metrics while it runs, to show where it settles and that it stays.
  if (!SHORT || process.env.BENCH_MEMORY_CALLS) {
    const calls = Number(process.env.BENCH_MEMORY_CALLS ?? 1_000_000);
    const sessionCount = Number(process.env.BENCH_MEMORY_SESSIONS ?? 100_000);
    const memRedis = await startThrowawayRedis();
    const server = await startServer('tether', TETHER, { ...tetherEnv, REDIS_URL: memRedis.url }, await freePort());
    const ids = await world.openSessions(sessionCount);
    const bodies = ids.map((id) => rpcBody({ session_id: id, limit: 20 }));
    let i = 0;
    const samples: number[] = [];
    const sampler = setInterval(() => {
      metric(server.url, 'tether_process_resident_memory_bytes').then((v) => samples.push(Math.round(v / 1e6)), () => {});
    }, 5000);
    const figures = await drive(`tether: memory, ${calls} calls / ${sessionCount} sessions`, server.url, { path: '/api/v1/agents/list', headers, nextBody: () => bodies[i++ % bodies.length], amount: calls });
    clearInterval(sampler);
    samples.push(Math.round((await metric(server.url, 'tether_process_resident_memory_bytes')) / 1e6));
    const quarter = samples[Math.floor(samples.length / 4)] ?? samples[0];
    extra.memory = { calls, sessions: sessionCount, rss_mb_samples: samples, rss_mb_max: Math.max(...samples), rss_mb_last: samples.at(-1), growth_after_first_quarter_mb: (samples.at(-1) ?? 0) - quarter };
    figures.note = `RSS ${samples[0]} -> max ${Math.max(...samples)} -> last ${samples.at(-1)} MB`;
    await server.stop();
    await memRedis.stop();
  }

  // Redis down: every lookup fails fast and PostgreSQL answers.
  const down = await startServer('tether', TETHER, restoreEnv, await freePort());
  await redis.kill();
  await drive('tether: hot path, Redis down', down.url, { path: '/api/v1/agents/list', body: hotBody, headers });
  await down.stop();
  await redis.stop().catch(() => {});

  // WORKERS=2: the same hot path on two processes sharing the port (both cores, so the load
  // generator competes with the servers here: read it as a trend).
  if (TWO_CORES) {
    const clusterPort = await freePort();
    const child = spawn(process.execPath, TETHER, { cwd: ROOT, env: { ...process.env, ...tetherEnv, WORKERS: '2', PORT: String(clusterPort), HOST: '127.0.0.1' }, stdio: 'ignore' });
    children.add(child);
    const url = `http://127.0.0.1:${clusterPort}`;
    for (let i = 0; i < 100 && !(await fetch(url + '/healthz').then(() => true).catch(() => false)); i++) await new Promise((r) => setTimeout(r, 200));
    const two = await drive('tether: hot path, WORKERS=2', url, { path: '/api/v1/agents/list', body: hotBody, headers }, 'servers share both cores with the load generator');
    extra.workers_2_vs_1 = Math.round((two.rps / hot.rps) * 100) / 100;
    child.kill('SIGTERM');
  }

  const ratio = (a: number, b: number) => Math.round((a / Math.max(1, b)) * 100) / 100;
  for (const r of results) {
    r.vs_koa = ratio(r.rps, koaFigures.rps);
    r.vs_express = ratio(r.rps, expressFigures.rps);
  }
  extra.me_vs_baseline_1 = ratio(me.rps, koaFigures.rps);
  extra.me_vs_baseline_2 = ratio(me.rps, expressFigures.rps);
  extra.hot_vs_baseline_1 = ratio(hot.rps, koaFigures.rps);
  extra.hot_vs_baseline_2 = ratio(hot.rps, expressFigures.rps);
  await world.close();
  report();
}

async function tuneSmallCache(redis: ThrowawayRedis) {
  const client = createClient({ url: redis.url });
  await client.connect();
  await client.flushAll();
  const used = Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1] ?? 1_000_000);
  // Room for a few hundred entries: far fewer than the sessions in rotation.
  await client.configSet({ maxmemory: String(used + 256 * 1024), 'maxmemory-policy': 'allkeys-lru' });
  await client.quit();
}

function report() {
  const table = [
    '| scenario | req/s | vs Koa echo | vs express-session | p50 ms | p99 ms | errors | non-2xx | note |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...results.map((r) => `| ${r.scenario} | ${r.rps} | ${r.vs_koa ?? ''} | ${r.vs_express ?? ''} | ${r.p50_ms} | ${r.p99_ms} | ${r.errors} | ${r.non2xx} | ${r.note ?? ''} |`),
  ].join('\n');
  console.log(table);
  console.log('');
  console.log(
    [
      `me vs baseline 1 (koa echo): ${extra.me_vs_baseline_1} (target >= 0.85, floor 0.70)`,
      `me vs baseline 2 (express-session): ${extra.me_vs_baseline_2} (target >= 3)`,
      `agents.list vs baseline 1 (koa echo): ${extra.hot_vs_baseline_1} (target >= 0.5)`,
      `p99 of me at half its max rate: ${extra.me_p99_at_half_max_ms} ms (target <= 5; the Koa echo at the same paced rate: ${extra.echo_p99_at_same_rate_ms} ms)`,
      extra.restore_cost_ratio_1m_vs_10k !== undefined ? `restore path cost, 1M rows vs 10k: ${extra.restore_cost_ratio_1m_vs_10k} (target <= 1.2)` : 'restore path at 1M rows: full run only',
      `PostgreSQL writes on the hot path: ${JSON.stringify(extra.postgres_writes_hot_path)}`,
      `RSS at start (plain node on dist/): ${extra.rss_at_start_mb} MB; after the hot-path scenarios: ${extra.rss_after_hot_mb} MB`,
      extra.memory ? `memory run: ${JSON.stringify(extra.memory)} (target: under 150 MB and flat)` : '',
      extra.workers_2_vs_1 !== undefined ? `WORKERS=2 vs 1: ${extra.workers_2_vs_1}x` : '',
    ]
      .filter(Boolean)
      .join('\n'),
  );
  mkdirSync(new URL('results/', import.meta.url), { recursive: true });
  const json = JSON.stringify({ at: new Date().toISOString(), ...extra, results }, null, 2);
  writeFileSync(new URL(`results/${new Date().toISOString().replace(/[:.]/g, '-')}.json`, import.meta.url), json);
  writeFileSync(new URL('results/latest.json', import.meta.url), json);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('bench failed:', err);
    process.exit(1);
  },
);
