// Start and stop one Tether process: stores, migrations, registry, HTTP. main.ts and the tests both
// come through here, so what the tests start is what production runs.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { createLogger } from './log.ts';
import { openDatabase } from './stores/database.ts';
import { migrate } from './stores/migrate.ts';
import { memoryCache } from './stores/memoryCache.ts';
import { redisCache } from './stores/redisCache.ts';
import { createRegistry } from './rpc/registry.ts';
import { createApp, type Route } from './http/app.ts';
import type { AnyMethod } from './rpc/method.ts';
import type { Services } from './services.ts';
import { deriveKeys, resolveSecret } from './auth/keys.ts';
import { userStore } from './stores/userStore.ts';
import { clientStore } from './stores/clientStore.ts';
import { agentStore } from './stores/agentStore.ts';
import { sessionStore } from './stores/sessionStore.ts';
import { sessionService } from './sessions/sessionService.ts';
import { tokenRoute } from './http/tokenRoute.ts';
import { auditLog } from './audit/auditLog.ts';
import { retention } from './audit/retention.ts';
import { sessionSweeper } from './sessions/sweeper.ts';
import { createMetrics } from './metrics.ts';
import { metricsRoute } from './http/metricsRoute.ts';
import { join } from 'node:path';
import { methods as allMethods } from '../rpc-methods/index.ts';
import { stateCache } from './stores/stateCache.ts';
import { applyChange, CHANNEL } from './stores/changeFeed.ts';

export interface Tether {
  url: string;
  services: Services;
  /** Graceful: stop accepting, let in-flight calls finish (bounded by SHUTDOWN_TIMEOUT), close the stores. */
  close(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** Methods beyond the product's (the tests add the JSON-RPC specification's examples). */
  methods?: AnyMethod[];
  routes?: Route[];
}

/** An ended session's tombstone outlives any call that was in flight when it ended (seconds). */
const tombstoneSeconds = (config: Config) => Math.min(86_400, Math.max(60, config.sessionIdleTimeout));

/**
 * `followChanges`: an instance serving calls from an in-process cache applies the change feed (other
 * processes' ends and state changes); the CLI, which serves no calls, does not listen.
 */
export async function buildServices(config: Config, log: Logger, options: { followChanges?: boolean } = {}): Promise<Services> {
  const db = await openDatabase(config);
  try {
    const applied = await migrate(db.sql);
    if (applied.length) log.info({ applied }, 'migrations applied');
    const cache = config.redisUrl ? await redisCache(config.redisUrl, log) : memoryCache();
    const keys = deriveKeys(await resolveSecret(config));
    const state = stateCache(cache, log, tombstoneSeconds(config));
    if (options.followChanges && cache.kind === 'memory') {
      await db.listen(CHANNEL, (payload) => void applyChange(state, log, payload));
    }
    const sessionRows = sessionStore(db.sql);
    const users = userStore(db.sql, state);
    const metrics = createMetrics();
    const audit = auditLog({ sql: db.sql, log, spoolFile: join(config.dataDir, 'audit-spool.ndjson') });
    metrics.attach({
      activeSessions: () => sessionRows.countActive(config.sessionIdleTimeout),
      auditQueueDepth: audit.depth,
      auditSpoolRows: audit.spooledRows,
      auditCounters: audit.counters,
    });
    return {
      config,
      log,
      db,
      cache,
      keys,
      state,
      users,
      clients: clientStore(db.sql, state),
      agents: agentStore(db.sql),
      sessionRows,
      sessions: sessionService({ config, log, cache, state, store: sessionRows, users, keys, metrics }),
      audit,
      metrics,
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}

export async function closeServices(services: Services): Promise<void> {
  // The audit queue is flushed (or spooled) before the database closes.
  await services.audit.close().catch((err: Error) => services.log.error({ err: err.message }, 'audit flush at shutdown failed'));
  await Promise.allSettled([services.cache.close(), services.db.close()]);
}

/** The sweeper and retention, one run at a time each, on unref'd timers; answers a stop that waits for a run in progress. */
function startBackground(services: Services): () => Promise<void> {
  const { config, log } = services;
  if (config.sweepInterval === 0) return async () => {};
  const sweep = sessionSweeper({ store: services.sessionRows, sessions: services.sessions, metrics: services.metrics, log, idleTimeout: config.sessionIdleTimeout });
  const prune = retention({ sql: services.db.sql, store: services.sessionRows, log, days: config.retentionDays });
  let running: Promise<unknown> = Promise.resolve();
  let ticks = 0;
  const timer = setInterval(() => {
    // Retention once an hour's worth of sweeps (and on the first tick).
    const pruneNow = ticks++ % Math.max(1, Math.round(3600 / config.sweepInterval)) === 0;
    running = running.then(async () => {
      await sweep().catch((err: Error) => log.warn({ err: err.message }, '[SESSION SWEEP] failed; will retry'));
      if (pruneNow) await prune().catch((err: Error) => log.warn({ err: err.message }, '[RETENTION] failed; will retry'));
    });
  }, config.sweepInterval * 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

export async function startTether(config: Config, options: StartOptions = {}): Promise<Tether> {
  const log = options.log ?? createLogger(config.logLevel);
  const services = await buildServices(config, log, { followChanges: true });
  const registry = createRegistry([...allMethods, ...(options.methods ?? [])]);
  const app = createApp(services, registry, [tokenRoute, metricsRoute, ...(options.routes ?? [])]);
  const stopBackground = startBackground(services);

  // Slow clients do not hold a socket forever: headers within HEADERS_TIMEOUT, the whole request within
  // REQUEST_TIMEOUT (408 and the socket closed), checked every second (Node's default is every 30 s).
  const server = http.createServer({ connectionsCheckingInterval: 1000 }, app.callback());
  server.headersTimeout = config.headersTimeout * 1000;
  server.requestTimeout = config.requestTimeout * 1000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), config.shutdownTimeout * 1000).unref());
      if ((await Promise.race([drained, deadline])) === 'timeout') {
        log.warn({ timeout_s: config.shutdownTimeout }, 'shutdown timeout: closing remaining connections');
        server.closeAllConnections();
      }
      await stopBackground();
      await closeServices(services);
      log.flush(); // synchronous for the buffered stdout (sync destination)
    })());

  return { url, services, close };
}
