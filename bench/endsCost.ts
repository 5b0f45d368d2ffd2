// What an end costs for a user with a long history: sessions.revoke {all_others} for a user with
// 200 thousand ended sessions (and 3 live others each time), over real HTTP, real PostgreSQL and
// Redis. Ends touch only the rows that can still be live (the partial index on active rows) and
// write the cache through the change log, so the figure should not depend on the history.
// Beside it, the same call for a user with no history: the baseline, measured in the same run.
//   make bench-ends      (DATABASE_URL names the server whose database tether_bench_ends it recreates)
import { loadConfig } from '../server/config.ts';
import { createLogger } from '../server/log.ts';
import { startTether } from '../server/start.ts';
import { benchWorld, freshDatabase, BENCH_UA, BENCH_LANG } from './fixtures.ts';

const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379/15';
const HISTORY = Number(process.env.BENCH_HISTORY ?? 200_000);
const CALLS = 20;
const SECRET = 'bench-secret-0123456789-0123456789-0123456789';

const databaseUrl = await freshDatabase(ADMIN_URL, 'tether_bench_ends');
const tether = await startTether(
  loadConfig({ DATABASE_URL: databaseUrl, REDIS_URL, JWT_SECRET: SECRET, PORT: '0', LOG_LEVEL: 'warn', SWEEP_INTERVAL: '0', LOGIN_MAX_FAILURES_PER_LOGIN: '0', LOGIN_MAX_FAILURES_PER_IP: '0', MAX_SESSIONS_PER_USER: '100' }),
  { log: createLogger('warn') },
);
const world = await benchWorld(databaseUrl, SECRET);
const headers = { 'content-type': 'application/json', authorization: `Bearer ${world.token}`, 'user-agent': BENCH_UA, 'accept-language': BENCH_LANG };
const rpc = async (method: string, params: Record<string, unknown>) => {
  const res = await fetch(`${tether.url}/jsonrpc`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  return (await res.json()) as { result?: any; error?: any };
};

async function measure(login: string, password: string): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const sessions: string[] = [];
    for (let j = 0; j < 4; j++) sessions.push((await rpc('users.login', { login, password })).result.session_id);
    const started = performance.now();
    const answer = await rpc('sessions.revoke', { session_id: sessions[0], all_others: true });
    ms.push(performance.now() - started);
    if (answer.result?.revoked !== 3) throw new Error(`expected 3 revoked: ${JSON.stringify(answer)}`);
    await rpc('users.logout', { session_id: sessions[0] });
  }
  return ms.sort((a, b) => a - b);
}

// The history: HISTORY ended sessions of the bench user, inserted in SQL (no triggers fire on insert).
const rssBefore = process.memoryUsage().rss;
await world.sql`
  insert into api_sessions (session_hash, user_id, client_id, security_token, login_at, last_activity, expires_at, is_active, end_reason, ended_at)
  select md5(random()::text || g::text) || md5(g::text), ${world.userId}, ${world.clientId}, 'x', now() - interval '1 hour', now() - interval '1 hour',
         now() + interval '23 hours', false, 'logout', now() - interval '30 minutes'
    from generate_series(1, ${HISTORY}) g`;
await world.sql`analyze api_sessions`;
const fresh = await tether.services.users.create({ login: `bench_fresh_${Date.now()}`, passwordHash: (await tether.services.users.findById(world.userId))!.password_hash, name: 'Fresh' });

const withHistory = await measure(world.login, world.password);
const without = await measure(fresh.login, world.password);
const p = (xs: number[], q: number) => xs[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)].toFixed(1);
console.log(`sessions.revoke {all_others}, ${CALLS} calls each (3 live others every time), ms:`);
console.log(`  user with ${HISTORY} ended sessions: median ${p(withHistory, 0.5)}, p95 ${p(withHistory, 0.95)}, max ${p(withHistory, 1)}`);
console.log(`  user with no history (baseline):  median ${p(without, 0.5)}, p95 ${p(without, 0.95)}, max ${p(without, 1)}`);
console.log(`  RSS of this process (server + driver): +${((process.memoryUsage().rss - rssBefore) / 2 ** 20).toFixed(0)} MB over the run`);
await tether.close();
await world.close();
process.exit(0);
