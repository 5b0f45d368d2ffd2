// Shared by the fault tests: a bounded concurrent load of JSON-RPC calls, each with its own
// X-Request-Id (so the audit log can be checked call by call), and a tally of what came back.
import { randomBytes } from 'node:crypto';
import type { TestTether } from '../support/tether.ts';
import { TEST_JWT_SECRET } from '../support/tether.ts';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Outcome {
  requestId: string;
  method: string;
  /** error.status when the answer is a JSON-RPC error, else the HTTP status; 0: no HTTP answer at all. */
  status: number;
  errorCode?: string;
  rpcCode?: number;
  message?: string;
  /** The network failure when there was no HTTP answer. */
  network?: string;
  started: number;
  ended: number;
}

let counter = 0;
const run = randomBytes(4).toString('hex');
export const nextRequestId = (tag: string) => `${tag}-${run}-${++counter}`;

/** One JSON-RPC call on /jsonrpc (or an Odoo path), read into an Outcome; never throws. */
export async function callAt(baseUrl: string, method: string, params: Record<string, unknown>, headers: Record<string, string>, tag = 'call', path = '/jsonrpc'): Promise<Outcome & { body?: any; httpStatus: number }> {
  const requestId = nextRequestId(tag);
  const started = Date.now();
  const body = path === '/jsonrpc' ? { jsonrpc: '2.0', id: counter, method, params } : { jsonrpc: '2.0', id: counter, method: 'call', params };
  try {
    const response = await fetch(baseUrl + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': requestId, ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    let parsed: any;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const error = parsed?.error;
    return {
      requestId,
      method,
      status: error?.status ?? response.status,
      httpStatus: response.status,
      errorCode: error?.data?.error_code,
      rpcCode: error?.code,
      message: error?.message,
      started,
      ended: Date.now(),
      body: parsed,
    };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return { requestId, method, status: 0, httpStatus: 0, network: cause?.code ?? (err as Error).message, started, ended: Date.now() };
  }
}

export interface Load {
  outcomes: Outcome[];
  /** Resolves when every worker has stopped. */
  done: Promise<Outcome[]>;
  stop(): void;
}

/**
 * `workers` concurrent loops of `call` until `ms` have passed (or stop()); bounded in time and in
 * concurrency. `call(i)` gets a running index so callers can spread the work over sessions.
 */
export function startLoad(options: { workers: number; ms: number; call: (i: number) => Promise<Outcome>; stopOnNetworkError?: boolean }): Load {
  const outcomes: Outcome[] = [];
  const until = Date.now() + options.ms;
  let stopped = false;
  let i = 0;
  const worker = async () => {
    while (!stopped && Date.now() < until) {
      const outcome = await options.call(i++);
      outcomes.push(outcome);
      if (outcome.status === 0 && options.stopOnNetworkError) return;
      if (outcome.status === 0) await sleep(20); // no busy loop against a closed port
    }
  };
  const done = Promise.all(Array.from({ length: options.workers }, worker)).then(() => outcomes);
  return { outcomes, done, stop: () => (stopped = true) };
}

/** "200": 1234, "503 STORAGE_UNAVAILABLE": 12, "0 ECONNREFUSED": 3 */
export function tally(outcomes: Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) {
    const key = o.status === 0 ? `0 ${o.network}` : o.errorCode ? `${o.status} ${o.errorCode}` : String(o.status);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

export const fmt = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');

/** The environment that points a Tether at throwaway stores, whatever DATABASE_URL the run was given. */
export const storesEnv = (databaseUrl: string, redisUrl?: string): Record<string, string> => ({
  DATABASE_URL: databaseUrl,
  ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
  JWT_SECRET: TEST_JWT_SECRET,
  SWEEP_INTERVAL: '0',
});

/** Poll until `check` answers true (errors count as false), at most `ms`. */
export async function eventually(ms: number, check: () => Promise<boolean> | boolean, every = 100): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await Promise.resolve().then(check).catch(() => false)) return true;
    await sleep(every);
  }
  return false;
}

/** Audit rows per request id the load sent (X-Request-Id with the given tag prefix, kept as client_request_id), straight from PostgreSQL. */
export async function auditCounts(t: TestTether, prefix: string): Promise<Map<string, number>> {
  const rows = await t.services.db.sql<{ request_id: string; n: number }[]>`
    select client_request_id as request_id, count(*)::int as n from api_access_log where client_request_id like ${prefix + '%'} group by client_request_id`;
  return new Map(rows.map((r) => [r.request_id, r.n]));
}

export const runTag = run;

/**
 * The throwaway PostgreSQL runs with synchronous_commit=off (fast, and fine for tests that never
 * crash it); a SIGKILL then loses the last few hundred ms of commits with the WAL buffers, which
 * production (synchronous_commit=on, the default) never does. A crash test puts the production
 * setting back for its database: per-database settings override the command line for new sessions.
 */
export async function durableCommits(databaseUrl: string): Promise<void> {
  const { default: postgres } = await import('postgres');
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    const [{ db }] = await sql<{ db: string }[]>`select current_database() as db`;
    await sql.unsafe(`alter database "${db.replace(/"/g, '""')}" set synchronous_commit = on`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
