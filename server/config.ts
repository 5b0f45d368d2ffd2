// Configuration: environment variables in, one validated, typed object out.
// A bad value stops the process with a message naming the variable and what is allowed.
import { isIP } from 'node:net';

export type FingerprintComponent = 'ip' | 'ua' | 'lang' | 'client';

export interface Config {
  host: string;
  port: number;
  /** Unset: embedded PostgreSQL (PGlite) under dataDir. */
  databaseUrl?: string;
  /** A direct connection for LISTEN when databaseUrl goes through a pooler; defaults to databaseUrl. */
  databaseListenUrl?: string;
  /** Named prepared statements: off behind a transaction pooler (PgBouncer before 1.21 has none). */
  databasePrepare: boolean;
  /** Connections in the query pool (the audit's COPY and LISTEN have their own). */
  databasePoolSize: number;
  /** Unset (and no redisClusterNodes): an in-process cache. */
  redisUrl?: string;
  /** A Redis Cluster, by some of its nodes (host:port); never set together with redisUrl. */
  redisClusterNodes?: string[];
  dataDir: string;
  /** Unset is only allowed in embedded mode, where one is generated and kept under dataDir. */
  jwtSecret?: string;
  sessionIdleTimeout: number;
  sessionAbsoluteTimeout: number;
  accessTokenTtl: number;
  fingerprint: {
    components: ReadonlySet<FingerprintComponent>;
    ua: 'exact' | 'major';
    ip: 'exact' | 'subnet' | 'off';
  };
  trustedProxies: string[];
  maxSessionsPerUser: number;
  /** Agents one user may create (agents.create answers AGENT_LIMIT_REACHED beyond it); 0: no limit. */
  agentsPerUserLimit: number;
  logLevel: string;
  problemBaseUrl: string;
  bodyLimit: number;
  batchLimit: number;
  shutdownTimeout: number;
  /** Seconds each store (PostgreSQL, Redis) has to answer its start-up handshake. */
  storeStartupTimeout: number;
  /** Seconds between sweeps that end expired sessions in PostgreSQL; 0 turns the sweeper off. */
  sweepInterval: number;
  /** Days of audit rows and ended sessions kept; 0 keeps everything. */
  retentionDays: number;
  /** Milliseconds between reads of the change log that a lost notification would have woken. */
  changePollInterval: number;
  /** Serve GET /metrics (Prometheus text). */
  metricsEnabled: boolean;
  /** Set: /metrics is served on this port (of metricsHost) only, not on PORT. */
  metricsPort?: number;
  metricsHost: string;
  /** Seconds between the PostgreSQL counts behind tether_active_sessions. */
  metricsRefreshInterval: number;
  /** Processes sharing the port (node:cluster); more than 1 needs DATABASE_URL. */
  workers: number;
  /** Niceness of V8's helper threads (GC, background compilation) below the event loop; 0 leaves them (server/v8Threads.ts). */
  v8ThreadsNice: number;
  /** Login throttling (counters in the cache, so shared by every instance on one Redis); 0 turns a limit off. */
  loginThrottle: {
    maxFailuresPerLogin: number;
    maxFailuresPerIp: number;
    /** Seconds: a counter's window starts at its first failure. */
    windowSeconds: number;
  };
  /** Seconds within which a session must have proved its password for admin.* methods (a login is a proof); 0 turns the step-up off. */
  adminReauthWindow: number;
  /** Origins allowed to call from a browser (CORS); empty: no CORS headers, preflight refused. */
  corsOrigins: string[];
  /** Seconds a client has to send its request headers, and its whole request. */
  headersTimeout: number;
  requestTimeout: number;
  /** CONSOLE=on (default): the operator console is served at /console/; off: every /console path is 404. */
  console: boolean;
  /** Session events: seconds between heartbeat comments on an open stream, and between checks that its session still lives. */
  eventsHeartbeat: number;
  eventsSessionCheck: number;
  /** Webhooks: the delivery worker (on|off), how long a delivery is retried (seconds), the backoff's first and largest step (ms, s), a POST's timeout (s), deliveries in flight. */
  webhooks: {
    enabled: boolean;
    retryFor: number;
    backoffBaseMs: number;
    backoffMax: number;
    timeout: number;
    concurrency: number;
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

/**
 * postgres.js hands a query to an idle connection, else to the busy ones in turn, so the queries of
 * concurrent calls each go out on a connection of their own: one socket write, and one PostgreSQL
 * backend woken, per query. Fewer connections carry several queries per write and per wake-up:
 * agents.list cost 15% less CPU per call (Tether and PostgreSQL) with 4 than with 10 (bench/).
 */
export const DATABASE_POOL_SIZE = 4;

function integer(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name}=${JSON.stringify(raw)} is not allowed: expected a whole number from ${min} to ${max}`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new ConfigError(`${name}=${raw} is not allowed: expected a whole number from ${min} to ${max}`);
  return value;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not allowed: expected one of ${allowed.join(', ')}`);
  }
  return raw as T;
}

function url(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL: expected ${protocols.map((p) => `${p}//...`).join(' or ')}`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} has protocol ${parsed.protocol}: expected ${protocols.join(' or ')}`);
  }
  return raw;
}

/** REDIS_CLUSTER_NODES: a comma list of host:port (a few of the cluster's nodes; the rest are discovered). */
function clusterNodes(env: Env): string[] | undefined {
  const raw = env.REDIS_CLUSTER_NODES?.trim();
  if (!raw) return undefined;
  const nodes = raw.split(',').map((n) => n.trim()).filter(Boolean);
  for (const node of nodes) {
    const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(node);
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) {
      throw new ConfigError(`REDIS_CLUSTER_NODES contains ${JSON.stringify(node)}: expected a comma list of host:port, e.g. 10.0.0.1:7001,10.0.0.2:7001`);
    }
  }
  if (env.REDIS_URL) throw new ConfigError('REDIS_URL and REDIS_CLUSTER_NODES are both set: set REDIS_URL for one Redis, or REDIS_CLUSTER_NODES for a Redis Cluster');
  return nodes;
}

const COMPONENTS: readonly FingerprintComponent[] = ['ip', 'ua', 'lang', 'client'];

function components(env: Env): Set<FingerprintComponent> {
  const raw = env.FINGERPRINT_COMPONENTS;
  if (raw === undefined) return new Set(COMPONENTS);
  const parts = raw.split(',').map((p) => p.trim()).filter(Boolean);
  for (const part of parts) {
    if (!(COMPONENTS as readonly string[]).includes(part)) {
      throw new ConfigError(`FINGERPRINT_COMPONENTS contains ${JSON.stringify(part)}: expected a comma list of ${COMPONENTS.join(', ')} (or empty)`);
    }
  }
  return new Set(parts as FingerprintComponent[]);
}

/** One TRUSTED_PROXIES entry: an IPv4 or IPv6 address, with an optional prefix length its family allows. */
function validProxy(entry: string): boolean {
  const [address, prefix, ...more] = entry.split('/');
  const version = isIP(address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1'));
  if (version === 0 || more.length) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128);
}

function cidrs(env: Env): string[] {
  const raw = env.TRUSTED_PROXIES ?? '';
  const list = raw.split(',').map((p) => p.trim()).filter(Boolean);
  for (const cidr of list) {
    if (!validProxy(cidr)) {
      throw new ConfigError(`TRUSTED_PROXIES contains ${JSON.stringify(cidr)}: expected a comma list of IPv4/IPv6 addresses or CIDR ranges (10.0.0.0/8,::1,fd00::/8)`);
    }
  }
  return list;
}

function problemBase(env: Env): string {
  const raw = env.PROBLEM_BASE_URL || 'https://tether.dev/problems';
  let parsed: URL | undefined;
  try {
    parsed = new URL(raw);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !/^https?:\/\//i.test(raw) || !parsed.host) {
    throw new ConfigError(`PROBLEM_BASE_URL=${JSON.stringify(raw)} is not allowed: expected an absolute http(s) URL, e.g. https://errors.example.com/problems`);
  }
  return raw.replace(/\/+$/, '');
}

function origins(env: Env): string[] {
  const raw = env.CORS_ORIGINS ?? '';
  const list = raw.split(',').map((p) => p.trim().replace(/\/+$/, '')).filter(Boolean);
  for (const origin of list) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || parsed.origin !== origin) {
      throw new ConfigError(`CORS_ORIGINS contains ${JSON.stringify(origin)}: expected a comma list of origins (scheme://host[:port], no path), e.g. https://app.example.com`);
    }
  }
  return list;
}

function workers(env: Env, databaseUrl: string | undefined): number {
  const n = integer(env, 'WORKERS', 1, 1, 64);
  if (n > 1 && !databaseUrl) throw new ConfigError(`WORKERS=${n} needs DATABASE_URL: the embedded database serves one process`);
  return n;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function loadConfig(env: Env = process.env): Config {
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  const databaseListenUrl = url(env, 'DATABASE_LISTEN_URL', ['postgres:', 'postgresql:']);
  if (databaseListenUrl && !databaseUrl) throw new ConfigError('DATABASE_LISTEN_URL is set without DATABASE_URL: it is the direct connection beside a pooled DATABASE_URL');
  // A listen URL of its own says DATABASE_URL is a pooler: transaction pooling keeps no named statement.
  const pooled = Boolean(databaseListenUrl && databaseListenUrl !== databaseUrl);
  const jwtSecret = env.JWT_SECRET || undefined;
  if (jwtSecret !== undefined && Buffer.byteLength(jwtSecret) < 32) {
    throw new ConfigError('JWT_SECRET is too short: expected at least 32 bytes (openssl rand -base64 48)');
  }
  if (databaseUrl && !jwtSecret) {
    throw new ConfigError('JWT_SECRET is required when DATABASE_URL is set (it is generated only in embedded mode)');
  }
  const idle = integer(env, 'SESSION_IDLE_TIMEOUT', 7200, 1);
  const absolute = integer(env, 'SESSION_ABSOLUTE_TIMEOUT', 86400, 1);
  const headersTimeout = integer(env, 'HEADERS_TIMEOUT', 10, 1, 3600);
  const requestTimeout = integer(env, 'REQUEST_TIMEOUT', 30, 1, 3600);
  if (headersTimeout > requestTimeout) {
    throw new ConfigError(`HEADERS_TIMEOUT=${headersTimeout} is not allowed: it must not exceed REQUEST_TIMEOUT (${requestTimeout})`);
  }
  const host = env.HOST || '127.0.0.1';
  const port = integer(env, 'PORT', 8069, 0, 65535);
  const metricsPort = env.METRICS_PORT ? integer(env, 'METRICS_PORT', 9469, 1, 65535) : undefined;
  const metricsHost = env.METRICS_HOST || host;
  if (metricsPort !== undefined && metricsPort === port && metricsHost === host) {
    throw new ConfigError(`METRICS_PORT=${metricsPort} is not allowed: it must differ from PORT (unset METRICS_PORT to serve /metrics on PORT)`);
  }
  return {
    host,
    port,
    databaseUrl,
    databaseListenUrl: databaseListenUrl ?? databaseUrl,
    databasePrepare: oneOf(env, 'DATABASE_PREPARE', ['on', 'off'], pooled ? 'off' : 'on') === 'on',
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', DATABASE_POOL_SIZE, 1, 100),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    redisClusterNodes: clusterNodes(env),
    dataDir: env.DATA_DIR || './data',
    jwtSecret,
    sessionIdleTimeout: idle,
    sessionAbsoluteTimeout: absolute,
    accessTokenTtl: integer(env, 'ACCESS_TOKEN_TTL', 3600, 1),
    fingerprint: {
      components: components(env),
      ua: oneOf(env, 'FINGERPRINT_UA', ['exact', 'major'], 'exact'),
      ip: oneOf(env, 'FINGERPRINT_IP', ['exact', 'subnet', 'off'], 'exact'),
    },
    trustedProxies: cidrs(env),
    maxSessionsPerUser: integer(env, 'MAX_SESSIONS_PER_USER', 10, 1, 10000),
    agentsPerUserLimit: integer(env, 'AGENTS_PER_USER_LIMIT', 1000, 0, 100_000_000),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    problemBaseUrl: problemBase(env),
    bodyLimit: integer(env, 'BODY_LIMIT', 1024 * 1024, 1024),
    batchLimit: integer(env, 'BATCH_LIMIT', 50, 1, 10000),
    shutdownTimeout: integer(env, 'SHUTDOWN_TIMEOUT', 10, 1, 600),
    storeStartupTimeout: integer(env, 'STORE_STARTUP_TIMEOUT', 5, 1, 600),
    sweepInterval: integer(env, 'SWEEP_INTERVAL', 60, 0, 86400),
    retentionDays: integer(env, 'RETENTION_DAYS', 90, 0, 36500),
    changePollInterval: integer(env, 'CHANGE_POLL_INTERVAL', 1000, 50, 60_000),
    metricsEnabled: oneOf(env, 'METRICS', ['on', 'off'], 'on') === 'on',
    metricsPort,
    metricsHost,
    metricsRefreshInterval: integer(env, 'METRICS_REFRESH_INTERVAL', 15, 1, 3600),
    workers: workers(env, databaseUrl),
    v8ThreadsNice: integer(env, 'V8_THREADS_NICE', 19, 0, 19),
    loginThrottle: {
      maxFailuresPerLogin: integer(env, 'LOGIN_MAX_FAILURES_PER_LOGIN', 5, 0, 1_000_000),
      maxFailuresPerIp: integer(env, 'LOGIN_MAX_FAILURES_PER_IP', 20, 0, 1_000_000),
      windowSeconds: integer(env, 'LOGIN_FAILURE_WINDOW', 900, 1, 86400),
    },
    adminReauthWindow: integer(env, 'ADMIN_REAUTH_WINDOW', 900, 0, 31_536_000),
    corsOrigins: origins(env),
    headersTimeout,
    requestTimeout,
    console: oneOf(env, 'CONSOLE', ['on', 'off'], 'on') === 'on',
    eventsHeartbeat: integer(env, 'EVENTS_HEARTBEAT', 15, 1, 3600),
    eventsSessionCheck: integer(env, 'EVENTS_SESSION_CHECK', 5, 1, 3600),
    webhooks: {
      enabled: oneOf(env, 'WEBHOOKS', ['on', 'off'], 'on') === 'on',
      retryFor: integer(env, 'WEBHOOK_RETRY_FOR', 86_400, 1, 30 * 86_400),
      backoffBaseMs: integer(env, 'WEBHOOK_BACKOFF_BASE_MS', 5000, 10, 3_600_000),
      backoffMax: integer(env, 'WEBHOOK_BACKOFF_MAX', 900, 1, 86_400),
      timeout: integer(env, 'WEBHOOK_TIMEOUT', 10, 1, 300),
      concurrency: integer(env, 'WEBHOOK_CONCURRENCY', 8, 1, 256),
    },
  };
}
