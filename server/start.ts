// Start and stop one Tether process: stores, migrations, registry, HTTP. main.ts and the tests both
// come through here, so what the tests start is what production runs.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { createLogger } from './log.ts';
import { createRegistry } from './rpc/registry.ts';
import { createApp, type Route } from './http/app.ts';
import type { AnyMethod } from './rpc/method.ts';
import type { Services } from './services.ts';
import { buildServices, closeServices, StartAbandoned } from './buildServices.ts';
import { tokenRoute } from './http/tokenRoute.ts';
import { consoleRoute } from './http/consoleRoute.ts';
import { consoleEvents } from './console/eventsRoute.ts';
import { ensureAuditPartitions, retention } from './audit/retention.ts';
import { sessionSweeper } from './sessions/sweeper.ts';
import { metricsRoute } from './http/metricsRoute.ts';
import { startMetricsServer, type MetricsServer } from './http/metricsServer.ts';
import { rpcTransport } from './http/rpcTransport.ts';
import { trustedProxies } from './http/peer.ts';
import { methods as allMethods } from '../rpc-methods/index.ts';
import { eventsRoute } from './http/eventsRoute.ts';
import { webhookWorker } from './events/webhookWorker.ts';

export { buildServices, closeServices, StartAbandoned };

export interface Tether {
  url: string;
  /** METRICS_PORT set: where /metrics answers (and the service port does not serve it). */
  metricsUrl?: string;
  services: Services;
  /** Graceful: stop accepting, let in-flight calls finish (bounded by SHUTDOWN_TIMEOUT), close the stores. */
  close(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /** Methods beyond the product's (the tests add the JSON-RPC specification's examples). */
  methods?: AnyMethod[];
  routes?: Route[];
  /** True once a stop was asked for: start-up gives up at its next step (StartAbandoned). */
  stopping?: () => boolean;
}

/** The active-sessions gauge's count, now and every METRICS_REFRESH_INTERVAL seconds (one at a time). */
async function startActiveSessionsCount(services: Services): Promise<() => Promise<void>> {
  const { config, metrics } = services;
  if (!config.metricsEnabled) return async () => {};
  await metrics.refreshActiveSessions();
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() => metrics.refreshActiveSessions());
  }, config.metricsRefreshInterval * 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

/** The sweeper and retention, one run at a time each, on unref'd timers; answers a stop that waits for a run in progress. */
function startBackground(services: Services): () => Promise<void> {
  const { config, log } = services;
  if (config.sweepInterval === 0) {
    // Said once, so an operator (and a test) knows nothing is swept or pruned in the background.
    log.info('[SESSION SWEEP] off (SWEEP_INTERVAL=0): no sweeper, no retention or change-log pruning in this process');
    return async () => {};
  }
  // The change log outlives every cache key a change can invalidate (sessions: the idle timeout; state
  // keys: an hour; access tokens: their lifetime), with an hour's margin.
  const keepLog = Math.max(config.sessionIdleTimeout, 3600, config.accessTokenTtl) + 3600;
  const sweep = sessionSweeper({
    store: services.sessionRows,
    afterChange: services.changes.afterChange,
    pruneLog: () => services.changes.prune(keepLog),
    metrics: services.metrics,
    log,
    idleTimeout: config.sessionIdleTimeout,
  });
  const prune = retention({ sql: services.db.sql, store: services.sessionRows, events: services.events.rows, log, days: config.retentionDays });
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

/** The webhook worker (WEBHOOKS=on): woken by every new event, and by its own poll. Answers the stop. */
function startWebhooks(services: Services): () => Promise<void> {
  const { config, log } = services;
  if (!config.webhooks.enabled) return async () => {};
  const worker = webhookWorker({ store: services.webhooks, key: services.keys.webhookSecrets, log, metrics: services.metrics, settings: config.webhooks, pollMs: config.changePollInterval });
  const unsubscribe = services.events.feed.subscribe(undefined, () => worker.wake());
  worker.start();
  return async () => {
    unsubscribe();
    await worker.stop();
  };
}

export async function startTether(config: Config, options: StartOptions = {}): Promise<Tether> {
  const log = options.log ?? createLogger(config.logLevel);
  const services = await buildServices(config, log, { role: 'server', migrations: 'always', followChanges: true, stopping: options.stopping });
  try {
    if (options.stopping?.()) throw new StartAbandoned('stopped during start-up');
    return await serveHttp(config, log, services, options);
  } catch (err) {
    await closeServices(services);
    throw err;
  }
}

async function serveHttp(config: Config, log: Logger, services: Services, options: StartOptions): Promise<Tether> {
  const registry = createRegistry([...allMethods, ...(options.methods ?? [])]);
  services.metrics.knownMethods(registry.methods.keys());
  const events = eventsRoute(services);
  const app = createApp(services, registry, [tokenRoute, metricsRoute, events.route, consoleRoute(registry, [consoleEvents(events.route)]), ...(options.routes ?? [])]);
  // The common JSON-RPC call on Node's http directly; everything else through Koa (rpcTransport.ts says why).
  const serveRpc = rpcTransport(services, registry, trustedProxies(config.trustedProxies));
  const koa = app.callback();
  // The audit's day partitions ahead, whether or not the background runs (retention makes them hourly).
  await ensureAuditPartitions(services.db.sql).catch((err: Error) => log.warn({ err: err.message }, '[AUDIT PARTITIONS] not made; retention will retry'));
  const stopCounting = await startActiveSessionsCount(services);
  let metricsServer: MetricsServer | undefined;
  try {
    if (config.metricsEnabled && config.metricsPort !== undefined) metricsServer = await startMetricsServer(services.metrics, config.metricsHost, config.metricsPort);
  } catch (err) {
    await stopCounting();
    throw err;
  }
  const stopBackground = startBackground(services);
  const stopWebhooks = startWebhooks(services);
  const stopLoopWatch = services.metrics.watchEventLoop(log);

  // Slow clients do not hold a socket forever: headers within HEADERS_TIMEOUT, the whole request within
  // REQUEST_TIMEOUT (408 and the socket closed), checked every second (Node's default is every 30 s).
  const server = http.createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
    if (!serveRpc(req, res)) void koa(req, res);
  });
  server.headersTimeout = config.headersTimeout * 1000;
  server.requestTimeout = config.requestTimeout * 1000;
  server.keepAliveTimeout = 5_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
  } catch (err) {
    await Promise.all([stopBackground(), stopWebhooks(), stopCounting(), metricsServer?.close()]);
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  // Embedded: from now on `npx tether` on this DATA_DIR goes through this process's database.
  services.db.publish?.();
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      // Event streams never end by themselves: ended here, their clients reconnect (to another instance).
      events.closeAll();
      server.closeIdleConnections();
      const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), config.shutdownTimeout * 1000).unref());
      if ((await Promise.race([drained, deadline])) === 'timeout') {
        log.warn({ timeout_s: config.shutdownTimeout }, 'shutdown timeout: closing remaining connections');
        server.closeAllConnections();
      }
      await Promise.all([stopBackground(), stopWebhooks(), stopCounting(), metricsServer?.close()]);
      stopLoopWatch();
      await closeServices(services);
      log.flush(); // synchronous for the buffered stdout (sync destination)
    })());

  return { url, metricsUrl: metricsServer?.url, services, close };
}
