// The server's start and stop (main.ts loads this once its signal handlers are in place): start on the
// configured (or embedded) stores, say how to call it, and shut down on SIGTERM/SIGINT/SIGHUP.
import cluster from 'node:cluster';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { preflight } from './preflight.ts';
import { DataDirInUse } from './embedded/dataDirLock.ts';
import { createLogger } from './log.ts';
import { lowerV8Threads } from './v8Threads.ts';
import { StartAbandoned, startTether } from './start.ts';
import { demoFile, ensureDemo, existingDemo, howToCall } from './demo.ts';
import type { StopSignal, StopSignals } from './stopSignals.ts';

/** A configuration a person must fix: the message names the variable; exit 2 before anything is opened. */
function refuse(err: unknown): never {
  console.error(`tether: ${err instanceof DataDirInUse ? err.message : `configuration error: ${(err as Error).message}`}`);
  process.exit(2);
}

export async function serve(signals: StopSignals): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
    if (cluster.isPrimary) await preflight(config);
  } catch (err) {
    if (err instanceof ConfigError) refuse(err);
    throw err;
  }
  const log = createLogger(config.logLevel);
  const v8Threads = lowerV8Threads(config.v8ThreadsNice, log);
  if ('lowered' in v8Threads) log.info({ threads: v8Threads.lowered, nice: v8Threads.nice }, "V8's helper threads (GC, compilation) run below the event loop while it has time to spare");
  else log.info({ reason: v8Threads.skipped }, "V8's helper threads left at the event loop's priority");
  signals.onRepeat((signal) => log.warn({ signal }, 'signal during shutdown: ignored, the shutdown goes on (in-flight calls drain, the audit queue is flushed)'));
  if (config.workers > 1 && cluster.isPrimary) return supervise(config, log, signals);
  // A signal during start-up (PostgreSQL not answering, migrations running) stops start-up at its next
  // step, closing what it opened; if no step ends within SHUTDOWN_TIMEOUT the process exits anyway,
  // with 0: the stop was asked for, and nothing was served yet. The exit hooks remove the DATA_DIR lock.
  signals.onStop((signal) => {
    log.warn({ signal, timeout_s: config.shutdownTimeout }, 'signal during start-up: stopping at the next start-up step, at most SHUTDOWN_TIMEOUT seconds from now');
    setTimeout(() => {
      log.warn({ signal, timeout_s: config.shutdownTimeout }, 'start-up did not end within SHUTDOWN_TIMEOUT: exiting as asked');
      log.flush();
      process.exit(0);
    }, config.shutdownTimeout * 1000);
  });
  let tether;
  try {
    tether = await startTether(config, { log, stopping: () => signals.received !== undefined });
  } catch (err) {
    if (err instanceof DataDirInUse) refuse(err);
    if (err instanceof StartAbandoned) {
      log.info({ signal: signals.received }, 'stopped during start-up');
      log.flush();
      process.exit(0);
    }
    throw err;
  }
  const shutdown = (signal: StopSignal) => {
    log.info({ signal }, 'shutting down');
    tether.close().then(
      () => {
        const { written, spooled } = tether.services.audit.counters;
        log.info({ audit_rows_written: written, audit_rows_spooled: spooled }, 'stopped');
        log.flush();
        process.exit(0);
      },
      (err) => {
        log.error({ err }, 'shutdown failed');
        log.flush();
        process.exit(1);
      },
    );
  };
  if (signals.received) return shutdown(signals.received);
  // From here a signal is a shutdown; the banner comes after, so a signal while it is being made is one.
  let stopped = false;
  signals.onStop((signal) => {
    stopped = true;
    shutdown(signal);
  });
  // Redis unreachable at start: the process runs degraded (sessions from PostgreSQL), and says so.
  const cache = tether.services.cache.kind === 'redis' && !(await tether.services.cache.ping().then(() => true, () => false)) ? 'degraded (Redis unreachable; sessions answered from PostgreSQL)' : tether.services.cache.kind;
  log.info({ url: tether.url, database: tether.services.db.kind, cache, ...(tether.metricsUrl ? { metrics_url: `${tether.metricsUrl}/metrics` } : {}) }, 'tether listening');
  // Embedded: the demo is made on the first start. Real stores: never made behind the operator's back;
  // its flow is printed when this DATA_DIR keeps working credentials, else the command that makes them.
  // A demo user whose password this DATA_DIR does not keep is never reset here: the banner says how.
  const demo =
    tether.services.db.kind === 'embedded'
      ? await ensureDemo(tether.services).then(
          (made) => made.demo,
          (err: Error) => void log.warn({ err: err.message }, 'demo client and user not made'),
        )
      : await existingDemo(tether.services).catch(() => undefined);
  if (stopped) return;
  // The log lines so far go out first, so none lands inside the banner on a terminal showing both.
  log.flush();
  if (cluster.isPrimary || cluster.worker?.id === 1) console.error(
    [
      '',
      `Tether is listening on ${tether.url} (database: ${tether.services.db.kind}, cache: ${cache})`,
      ...(tether.metricsUrl ? [`Prometheus metrics (METRICS_PORT): ${tether.metricsUrl}/metrics`] : []),
      ...(config.console ? [`Operator console: ${tether.url}/console/ (an admin user's login and password${demo ? `, e.g. the demo user ${demo.login}` : ''})`] : []),
      'Try it:',
      `  curl -s ${tether.url}/jsonrpc -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"system.ping"}'`,
      `  curl -s ${tether.url}/api/v1/system/ping -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"call","params":{}}'`,
      ...(demo
        ? ['', `The whole flow with the demo client and user (kept in ${demoFile(tether.services)}):`, howToCall(tether.url, demo)]
        : ['', 'No demo client and user on this database (or none whose credentials this DATA_DIR keeps). To make them (an admin user: not on a production database):', '  npx tether demo']),
      '',
    ].join('\n'),
  );
}

/** WORKERS=N: N processes share the port (node:cluster); the primary only forwards signals and reports exits. */
function supervise(config: Config, log: ReturnType<typeof createLogger>, signals: StopSignals): void {
  for (let i = 0; i < config.workers; i++) cluster.fork();
  let stopping = false;
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) log.error({ worker: worker.id, code, signal }, 'worker exited; starting another');
    if (!stopping) cluster.fork();
    else if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  });
  // Forwarded once: a worker that got the group's signal too ignores the repeat.
  signals.onStop((signal) => {
    stopping = true;
    log.info({ signal, workers: config.workers }, 'shutting down workers');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  });
}
