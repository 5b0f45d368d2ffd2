// Real processes for the tests that need the entry points themselves: `node --import tsx server/main.ts`
// (a server child) and `node bin/tether.js` (the command line), with the environment a test gives.
// Every child is SIGKILLed when the test process exits, so a failed test leaves none behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './throwaway.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** The environment without the shared stores: a child on an embedded DATA_DIR. */
export function embeddedEnv(dataDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, NO_COLOR: '1', ...extra };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET']) if (!(name in extra)) delete env[name];
  return env;
}

export interface ServerChild {
  url: string;
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns server/main.ts on a free port (unless env sets PORT); does not wait for it to be up. */
export async function spawnServer(env: NodeJS.ProcessEnv): Promise<ServerChild> {
  const port = env.PORT ?? String(await freePort());
  const proc = spawn(process.execPath, ['--import', 'tsx', MAIN], { cwd: ROOT, env: { HOST: '127.0.0.1', SWEEP_INTERVAL: '0', ...env, PORT: port }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d) => (stdout += d));
  proc.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  return { url: `http://127.0.0.1:${port}`, proc, stdout: () => stdout, stderr: () => stderr, exit };
}

export async function eventually(ms: number, check: () => Promise<boolean> | boolean, every = 100): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return true;
    } catch {
      // not yet
    }
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}

/** Spawns a server and waits (generously) until it answers /healthz and has printed its banner. */
export async function startServer(env: NodeJS.ProcessEnv): Promise<ServerChild> {
  const child = await spawnServer(env);
  const up = await eventually(90_000, async () => {
    if (child.proc.exitCode !== null) throw new Error('exited');
    return child.stderr().includes('Tether is listening on') && (await fetch(child.url + '/healthz')).status === 200;
  });
  if (!up) {
    child.proc.kill('SIGKILL');
    throw new Error(`server/main.ts did not come up:\n${child.stdout().slice(-3000)}\n${child.stderr().slice(-3000)}`);
  }
  return child;
}

/** SIGTERM and wait for the exit (SIGKILL after a bound, so a test never hangs). */
export async function stopServer(child: ServerChild): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), 60_000);
  const result = await child.exit;
  clearTimeout(timer);
  return result;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const showRun = (r: CliRun) => `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** Runs `file args` in the repository, stdin written and closed; killed (code null) if it has not finished after a generous bound. */
export function runProcess(file: string, args: string[], env: NodeJS.ProcessEnv, stdin = '', boundMs = 60_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), boundMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}

/** `node bin/tether.js <args>`; killed (code null) if it has not finished after a generous bound. */
export const runCli = (args: string[], env: NodeJS.ProcessEnv, stdin = '', boundMs = 60_000): Promise<CliRun> =>
  runProcess(process.execPath, ['bin/tether.js', ...args], env, stdin, boundMs);

/** One JSON-RPC call on /jsonrpc. */
export async function rpcAt(url: string, method: string, params: Record<string, unknown>, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/jsonrpc`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

/** client_credentials at the token endpoint: the status and the body. */
export async function tokenAt(url: string, clientId: string, clientSecret: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
  });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}
