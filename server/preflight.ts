// What loadConfig cannot see from the variables alone, checked before anything is opened or
// migrated: DATA_DIR can be created and written, and HOST:PORT resolves and can be bound. A failure
// is a ConfigError naming the variable (exit 2), not a stack trace halfway through start-up.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { join } from 'node:path';
import { ConfigError, type Config } from './config.ts';
import { within } from './timers.ts';

export async function checkDataDir(dataDir: string): Promise<void> {
  const probe = join(dataDir, `.write-test-${process.pid}`);
  try {
    await mkdir(dataDir, { recursive: true });
    await writeFile(probe, 'ok');
    await rm(probe, { force: true });
  } catch (err) {
    throw new ConfigError(`DATA_DIR=${JSON.stringify(dataDir)} is not usable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (it must be a directory this process can create and write)`);
  }
}

export async function checkListen(host: string, port: number, portVariable = 'PORT', hostVariable = 'HOST'): Promise<void> {
  try {
    await within(5000, lookup(host), `no answer resolving ${host}`);
  } catch (err) {
    throw new ConfigError(`${hostVariable}=${JSON.stringify(host)} cannot be resolved: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const probe = net.createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, host, () => resolve());
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const isPort = code === 'EADDRINUSE';
    throw new ConfigError(`${isPort ? portVariable : hostVariable}=${JSON.stringify(isPort ? String(port) : host)} cannot be bound (${host}:${port}): ${code ?? (err as Error).message}`);
  } finally {
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  }
}

/** The server's checks; the command line runs checkDataDir only (it listens on nothing). */
export async function preflight(config: Config): Promise<void> {
  await checkDataDir(config.dataDir);
  await checkListen(config.host, config.port);
  if (config.metricsEnabled && config.metricsPort !== undefined) await checkListen(config.metricsHost, config.metricsPort, 'METRICS_PORT', 'METRICS_HOST');
}
