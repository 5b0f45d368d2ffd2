// Starts a real Tether on a free port for a test file: real HTTP, and the stores the environment
// names (DATABASE_URL / REDIS_URL for real PostgreSQL and Redis, else the embedded pair in a temp dir).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../../server/config.ts';
import { createLogger } from '../../server/log.ts';
import { startTether, type StartOptions, type Tether } from '../../server/start.ts';

export const TEST_JWT_SECRET = 'test-secret-0123456789-0123456789-0123456789';
export const realStores = Boolean(process.env.DATABASE_URL);

export type LogLine = Record<string, unknown> & { msg?: string };

export interface TestTether extends Tether {
  config: Config;
  logs: LogLine[];
  /** POST a body (object or raw string) and read the answer. */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any; text: string }>;
  /** A single JSON-RPC call on /jsonrpc. */
  rpc(method: string, params?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any; text: string }>;
  /** An Odoo-style call on /api/v1/<path>. */
  odoo(path: string, params?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any; text: string }>;
  logsMatching(text: string): LogLine[];
}

let nextId = 1;

export async function startTestTether(env: Record<string, string> = {}, options: StartOptions = {}): Promise<TestTether> {
  // A given DATA_DIR is the caller's to keep (the CLI tests reopen it); a temp one is removed at close.
  const dataDir = env.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'tether-test-'));
  const config = loadConfig({
    DATABASE_URL: process.env.DATABASE_URL,
    REDIS_URL: process.env.REDIS_URL,
    JWT_SECRET: process.env.DATABASE_URL ? TEST_JWT_SECRET : undefined,
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    // Off unless a test asks: a sweeper with a test's short idle timeout would end other test files'
    // sessions on the shared database.
    SWEEP_INTERVAL: '0',
    // Every test file logs in from 127.0.0.1, on one shared Redis in real mode: a per-IP login counter
    // (default 20 failures / 15 min) would refuse later files, and any other Tether on that Redis. Off
    // here (no IP counter is even written); tests/security/throttle.test.ts turns it on with its own
    // addresses (TRUSTED_PROXIES + X-Forwarded-For from 198.18.0.0/15).
    LOGIN_MAX_FAILURES_PER_IP: '0',
    ...env,
  });
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        logs.push(JSON.parse(line));
        if (process.env.TEST_LOGS) process.stderr.write(line + '\n');
      }
      done();
    },
  });
  const tether = await startTether(config, { log: createLogger(config.logLevel, sink), ...options });

  const post: TestTether['post'] = async (path, body, headers = {}) => {
    const response = await fetch(tether.url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, body: parsed, text };
  };

  return {
    ...tether,
    config,
    logs,
    post,
    rpc: (method, params, headers) => post('/jsonrpc', { jsonrpc: '2.0', id: nextId++, method, ...(params === undefined ? {} : { params }) }, headers),
    odoo: (path, params, headers) => post(`/api/v1/${path.replace(/^\//, '')}`, { jsonrpc: '2.0', id: nextId++, method: 'call', params: params ?? {} }, headers),
    logsMatching: (text) => logs.filter((l) => JSON.stringify(l).includes(text)),
    async close() {
      await tether.close();
      if (!env.DATA_DIR) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
