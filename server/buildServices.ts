// The stores and services one process runs on, without HTTP: the server (start.ts) and the command
// line (cli.ts) both come through here. Kept apart from start.ts so a command does not load the HTTP
// layer, the method registry and their schemas (about a second of start-up on a busy machine).
import type { Logger } from 'pino';
import { join } from 'node:path';
import type { Config } from './config.ts';
import { openDatabase, type OpenOptions } from './stores/database.ts';
import { migrate } from './stores/migrate.ts';
import { memoryCache } from './stores/memoryCache.ts';
import type { Services } from './services.ts';
import { deriveKeys, resolveSecret } from './auth/keys.ts';
import { userStore } from './stores/userStore.ts';
import { clientStore } from './stores/clientStore.ts';
import { agentStore } from './stores/agentStore.ts';
import { sessionStore } from './stores/sessionStore.ts';
import { sessionService } from './sessions/sessionService.ts';
import { auditLog } from './audit/auditLog.ts';
import { createMetrics } from './metrics.ts';

export interface BuildOptions extends OpenOptions {
  /**
   * 'always' (the server, `tether migrate`), or 'unless-attached': a command going through a running
   * embedded server's database leaves the schema to that server, which migrated it at start.
   */
  migrations?: 'always' | 'unless-attached';
}

export async function buildServices(config: Config, log: Logger, options: BuildOptions = {}): Promise<Services> {
  const db = await openDatabase(config, options);
  try {
    if (!(db.attachedTo && options.migrations === 'unless-attached')) {
      const applied = await migrate(db.sql);
      if (applied.length) log.info({ applied }, 'migrations applied');
    }
    // Loaded only when configured: node-redis costs ~0.5 s to load.
    const cache = config.redisUrl ? await (await import('./stores/redisCache.ts')).redisCache(config.redisUrl, log) : memoryCache();
    const keys = deriveKeys(await resolveSecret(config));
    const sessionRows = sessionStore(db.sql);
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
      users: userStore(db.sql),
      clients: clientStore(db.sql),
      agents: agentStore(db.sql),
      sessionRows,
      sessions: sessionService({ config, log, cache, store: sessionRows, keys, metrics }),
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
