// `make run` / `tether serve`: start on the configured (or embedded) stores and say how to call it.
import cluster from 'node:cluster';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { preflight } from './preflight.ts';
import { DataDirInUse } from './embedded/dataDirLock.ts';
import { createLogger } from './log.ts';
import { startTether } from './start.ts';
import { demoFile, ensureDemo, existingDemo, howToCall } from './demo.ts';

/** A configuration a person must fix: the message names the variable; exit 2 before anything is opened. */
function refuse(err: unknown): never {
  console.error(`tether: ${err instanceof DataDirInUse ? err.message : `configuration error: ${(err as Error).message}`}`);
  process.exit(2);
}

export async function serve(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
    if (cluster.isPrimary) await preflight(config);
  } catch (err) {
    if (err instanceof ConfigError) refuse(err);
    throw err;
  }
  const log = createLogger(config.logLevel);
  if (config.workers > 1 && cluster.isPrimary) return supervise(config, log);
  // A signal during start-up (PostgreSQL not answering, migrations running) lets start-up finish and
  // close cleanly if it can within SHUTDOWN_TIMEOUT; after that the process exits anyway, with 0: the
  // stop was asked for, and nothing was served yet.
  let stop = (signal: string) => {
    log.warn({ signal, timeout_s: config.shutdownTimeout }, 'signal during start-up: stopping once start-up ends, at most SHUTDOWN_TIMEOUT seconds from now');
    setTimeout(() => {
      log.warn({ signal, timeout_s: config.shutdownTimeout }, 'start-up did not end within SHUTDOWN_TIMEOUT: exiting as asked');
      log.flush();
      process.exit(0);
    }, config.shutdownTimeout * 1000);
    stop = () => {};
    stopSignal = signal;
  };
  let stopSignal: string | undefined;
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  let tether;
  try {
    tether = await startTether(config, { log });
  } catch (err) {
    if (err instanceof DataDirInUse) refuse(err);
    throw err;
  }
  log.info({ url: tether.url, database: tether.services.db.kind, cache: tether.services.cache.kind }, 'tether listening');
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
  // The log lines so far go out first, so none lands inside the banner on a terminal showing both.
  log.flush();
  if (cluster.isPrimary || cluster.worker?.id === 1) console.error(
    [
      '',
      `Tether is listening on ${tether.url} (database: ${tether.services.db.kind}, cache: ${tether.services.cache.kind})`,
      'Try it:',
      `  curl -s ${tether.url}/jsonrpc -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"system.ping"}'`,
      `  curl -s ${tether.url}/api/v1/system/ping -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"call","params":{}}'`,
      ...(demo
        ? ['', `The whole flow with the demo client and user (kept in ${demoFile(tether.services)}):`, howToCall(tether.url, demo)]
        : ['', 'No demo client and user on this database (or none whose credentials this DATA_DIR keeps). To make them (an admin user: not on a production database):', '  npx tether demo']),
      '',
    ].join('\n'),
  );

  stop = (signal: string) => {
    log.info({ signal }, 'shutting down');
    tether.close().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  if (stopSignal) stop(stopSignal);
}

/** WORKERS=N: N processes share the port (node:cluster); the primary only forwards signals and reports exits. */
function supervise(config: Config, log: ReturnType<typeof createLogger>): void {
  for (let i = 0; i < config.workers; i++) cluster.fork();
  let stopping = false;
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) log.error({ worker: worker.id, code, signal }, 'worker exited; starting another');
    if (!stopping) cluster.fork();
    else if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  });
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    log.info({ signal, workers: config.workers }, 'shutting down workers');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  serve().catch((err) => {
    console.error('tether: failed to start:', err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
