// `make run` / `tether serve`: start on the configured (or embedded) stores and say how to call it.
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './log.ts';
import { startTether } from './start.ts';
import { ensureDemo, howToCall } from './demo.ts';

export async function serve(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`tether: configuration error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  const tether = await startTether(config, { log });
  log.info({ url: tether.url, database: tether.services.db.kind, cache: tether.services.cache.kind }, 'tether listening');
  const demo = tether.services.db.kind === 'embedded' ? await ensureDemo(tether.services) : undefined;
  console.error(
    [
      '',
      `Tether is listening on ${tether.url} (database: ${tether.services.db.kind}, cache: ${tether.services.cache.kind})`,
      'Try it:',
      `  curl -s ${tether.url}/jsonrpc -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"system.ping"}'`,
      `  curl -s ${tether.url}/api/v1/system/ping -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"call","params":{}}'`,
      ...(demo ? ['', `The whole flow with the demo client and user (kept in ${tether.services.config.dataDir}/demo-credentials.json):`, howToCall(tether.url, demo)] : []),
      '',
    ].join('\n'),
  );

  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down');
    tether.close().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
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
