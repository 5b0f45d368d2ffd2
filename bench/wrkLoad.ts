// Closed-loop load with wrk (C, one thread, epoll): it needs a fraction of a core where a Node load
// generator needs all of one near 15k req/s, so the servers are what is measured. A Lua script sets
// the POST body (one body, or a file of bodies taken in turn, one request each) and reports the
// figures as one JSON line. bench/run.ts reads wrk's own CPU from /proc during the run and prints it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { LoadFigures } from './pacedLoad.ts';

export interface WrkLoad {
  path: string;
  headers: Record<string, string>;
  /** One body for every request, or bodies taken in turn. */
  body?: string;
  bodies?: string[];
  connections: number;
  /** Seconds, or stop after `amount` requests. */
  duration?: number;
  amount?: number;
}

export function findWrk(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const lua = (s: string) => JSON.stringify(s); // a JSON string is a valid Lua string literal for this ASCII text

function script(load: WrkLoad, bodiesFile: string | undefined, perThreadLimit: number): string {
  const headers = Object.entries({ 'content-type': 'application/json', ...load.headers })
    .map(([k, v]) => `wrk.headers[${lua(k)}] = ${lua(v)}`)
    .join('\n');
  return `
wrk.method = "POST"
wrk.path = ${lua(load.path)}
${headers}
${load.body !== undefined ? `wrk.body = ${lua(load.body)}` : ''}
${
  bodiesFile
    ? `
local requests = {}
local n = 0
local i = 0
function init(args)
  for line in io.lines(${lua(bodiesFile)}) do
    n = n + 1
    requests[n] = wrk.format(nil, nil, nil, line)
  end
end
function request()
  i = i % n + 1
  return requests[i]
end`
    : ''
}
${
  perThreadLimit > 0
    ? `
local seen = 0
function response(status, headers, body)
  seen = seen + 1
  if seen == ${perThreadLimit} then
    wrk.thread:stop()
    io.write('\\nWRK_AMOUNT_DONE\\n')
    io.flush()
  end
end`
    : ''
}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nWRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
`;
}

/** Runs wrk against url; `onStart` gets its pid (to watch its CPU). */
export async function wrkLoad(wrk: string, url: string, load: WrkLoad, onStart?: (pid: number) => void): Promise<LoadFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'tether-wrk-'));
  try {
    let bodiesFile: string | undefined;
    if (load.bodies) {
      bodiesFile = join(dir, 'bodies.txt');
      writeFileSync(bodiesFile, load.bodies.join('\n') + '\n');
    }
    const threads = 1;
    const scriptFile = join(dir, 'load.lua');
    writeFileSync(scriptFile, script(load, bodiesFile, load.amount ? Math.ceil(load.amount / threads) : 0));
    const seconds = load.amount ? 3600 : (load.duration ?? 10);
    const args = ['-t', String(threads), '-c', String(load.connections), '-d', `${seconds}s`, '--timeout', '10s', '-s', scriptFile, url + load.path];
    const child = spawn(wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    onStart?.(child.pid!);
    let out = '';
    let err = '';
    let stopped = false;
    child.stdout.on('data', (d) => {
      out += d;
      // wrk's main thread sleeps out -d whatever its threads do: a thread stopped at its amount ends
      // the run only when SIGINT wakes it (then it joins the threads and prints the figures).
      if (load.amount && out.includes('WRK_AMOUNT_DONE') && !stopped) {
        stopped = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const line = /WRK_JSON (\{.*\})/.exec(out)?.[1];
    if (!line) throw new Error(`wrk exited ${code} without figures: ${err || out}`);
    const r = JSON.parse(line) as { requests: number; duration_us: number; p50_us: number; p99_us: number; max_us: number; connect: number; read: number; write: number; status: number; timeout: number };
    const errors = r.connect + r.read + r.write + r.timeout;
    const ms = (us: number) => Math.round(us / 10) / 100;
    return {
      rps: Math.round(r.requests / (r.duration_us / 1e6)),
      p50_ms: ms(r.p50_us),
      p99_ms: ms(r.p99_us),
      errors,
      non2xx: r.status,
      requests: r.requests,
      ...(errors ? { error_codes: { connect: r.connect, read: r.read, write: r.write, timeout: r.timeout } } : {}),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
