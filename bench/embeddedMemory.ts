// Embedded mode's memory (`make bench-embedded-memory`): `make run`'s server with no DATABASE_URL or
// REDIS_URL (PGlite and the in-process cache) on a fresh DATA_DIR, its RSS (VmRSS of the process) once
// it is up, after a login and CALLS protected calls (each an audit row), and its peak (VmHWM).
// Prints one JSON line per run. CALLS (2000) and RUNS (1) from the environment.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const built = join(ROOT, 'dist/server/main.js');
const CALLS = Number(process.env.CALLS ?? 2000);
const RUNS = Number(process.env.RUNS ?? 1);

const mb = (kb: number) => Math.round(kb / 1024);
function status(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: mb(field('VmRSS')), hwm: mb(field('VmHWM')) };
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });

async function once(): Promise<Record<string, unknown>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tether-memory-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET']) delete env[name];
  // The built server (`make run`) when there is one, else the sources through tsx (a few MB more).
  const args = existsSync(built) ? [built] : ['--import', 'tsx', join(ROOT, 'server/main.ts')];
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  try {
    const url = `http://127.0.0.1:${port}`;
    for (const until = Date.now() + 180_000; !stderr.includes('Tether is listening on'); await new Promise((r) => setTimeout(r, 100))) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`did not come up:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 2000)); // settled
    const atStart = status(child.pid!);
    const demo = JSON.parse(readFileSync(join(dataDir, 'demo-credentials.json'), 'utf8')) as { client_id: string; client_secret: string; login: string; password: string };
    const token = ((await (await fetch(`${url}/api/v1/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_id: demo.client_id, client_secret: demo.client_secret }) })).json()) as { access_token: string }).access_token;
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'user-agent': 'memory-bench/1.0', 'accept-language': 'en' };
    const call = async (method: string, params: Record<string, unknown>) => (await (await fetch(`${url}/jsonrpc`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) })).json()) as { result?: { session_id?: string }; error?: unknown };
    const login = await call('users.login', { login: demo.login, password: demo.password });
    const sessionId = login.result?.session_id;
    if (!sessionId) throw new Error(`login failed: ${JSON.stringify(login)}`);
    for (let done = 0; done < CALLS; done += 20) await Promise.all(Array.from({ length: 20 }, () => call('agents.list', { session_id: sessionId })));
    await new Promise((r) => setTimeout(r, 2000)); // the audit batch written
    const afterCalls = status(child.pid!);
    return { rss_at_start_mb: atStart.rss, rss_after_calls_mb: afterCalls.rss, rss_peak_mb: afterCalls.hwm, calls: CALLS, server: existsSync(built) ? 'dist' : 'tsx' };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

for (let i = 0; i < RUNS; i++) console.log(JSON.stringify(await once()));
