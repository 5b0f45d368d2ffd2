// The stores and services one process runs on, without HTTP: the server (start.ts) and the command
// line (cli.ts) both come through here. Kept apart from start.ts so a command does not load the HTTP
// layer, the method registry and their schemas (about a second of start-up on a busy machine).
import type { Logger } from 'pino';
import { join } from 'node:path';
import type { Config } from './config.ts';
import { openDatabase, type OpenOptions } from './stores/database.ts';
import { infoLineWriter } from './log.ts';
import { migrate } from './stores/migrate.ts';
import { memoryCache } from './cache/memoryCache.ts';
import type { Services } from './services.ts';
import { deriveKeys, resolveSecret } from './auth/keys.ts';
import { userStore } from './stores/userStore.ts';
import { clientStore } from './stores/clientStore.ts';
import { agentStore } from './stores/agentStore.ts';
import { agentPages } from './stores/agentPages.ts';
import { sessionStore } from './stores/sessionStore.ts';
import { sessionService } from './sessions/sessionService.ts';
import { auditLog } from './audit/auditLog.ts';
import { createMetrics } from './metrics.ts';
import { stateCache } from './cache/stateCache.ts';
import { changeLog, logOrigin } from './cache/changeLog.ts';
import { eventStore } from './stores/eventStore.ts';
import { eventFeed } from './events/eventFeed.ts';
import { eventRecorder } from './events/eventRecorder.ts';
import { webhookStore } from './stores/webhookStore.ts';
import { activityWriter } from './sessions/activityWriter.ts';

export interface BuildOptions extends OpenOptions {
  /**
   * 'always' (the server, `tether migrate`), or 'unless-attached': a command going through a running
   * embedded server's database leaves the schema to that server, which migrated it at start.
   */
  migrations?: 'always' | 'unless-attached';
  /**
   * An instance serving calls follows the change log (notifications, reconnects, a poll); a command,
   * which serves no calls, does not listen: it brings a shared cache up to the log after its changes.
   */
  followChanges?: boolean;
  /** True once a stop was asked for: start-up gives up at its next step (StartAbandoned), closing what it opened. */
  stopping?: () => boolean;
}

/** Start-up stopped between two steps because a signal asked for it; everything opened is closed. */
export class StartAbandoned extends Error {
  override name = 'StartAbandoned';
}

/** An ended session's tombstone outlives any call that was in flight when it ended (seconds). */
const tombstoneSeconds = (config: Config) => Math.min(86_400, Math.max(60, config.sessionIdleTimeout));

export async function buildServices(config: Config, log: Logger, options: BuildOptions = {}): Promise<Services> {
  const checkpoint = () => {
    if (options.stopping?.()) throw new StartAbandoned('stopped during start-up');
  };
  checkpoint();
  const db = await openDatabase(config, options);
  try {
    checkpoint();
    if (!(db.attachedTo && options.migrations === 'unless-attached')) {
      const applied = await migrate(db.sql);
      if (applied.length) log.info({ applied }, 'migrations applied');
    }
    checkpoint();
    // Loaded only when configured: node-redis costs ~0.5 s to load.
    const redisTarget = config.redisClusterNodes ? { clusterNodes: config.redisClusterNodes } : config.redisUrl;
    const cache = redisTarget ? await (await import('./cache/redisCache.ts')).redisCache(redisTarget, log, await logOrigin(db.sql)) : memoryCache();
    const keys = deriveKeys(await resolveSecret(config));
    const state = stateCache(cache, log);
    const metrics = createMetrics();
    const changes = changeLog({ sql: db.sql, cache, log, tombstoneSeconds: tombstoneSeconds(config), pollMs: config.changePollInterval, onBehind: () => metrics.cacheBehind() });
    if (options.followChanges) await changes.follow((channel, onPayload, onListen) => db.listen(channel, onPayload, onListen));
    // A command's own in-process cache serves nobody: nothing to bring up to the log.
    const afterChange = options.followChanges || cache.kind === 'redis' ? changes.afterChange : async () => {};
    const eventRows = eventStore(db.sql);
    const feed = eventFeed({ store: eventRows, log, pollMs: config.changePollInterval });
    if (options.followChanges) await feed.follow((channel, onPayload, onListen) => db.listen(channel, onPayload, onListen));
    const recorder = eventRecorder({ store: eventRows, log, afterFlush: feed.wake });
    const sessionRows = sessionStore(db.sql);
    const users = userStore(db.sql, afterChange);
    const activity = activityWriter({ write: sessionRows.touchMany, log });
    const audit = auditLog({ sql: db.sql, log, spoolFile: join(config.dataDir, 'audit-spool.ndjson'), copySql: db.copySql });
    metrics.attach({
      activeSessions: () => sessionRows.countActive(config.sessionIdleTimeout),
      auditQueueDepth: audit.depth,
      auditSpoolRows: audit.spooledRows,
      auditCounters: audit.counters,
    });
    return {
      config,
      log,
      callLog: infoLineWriter(log, 'call'),
      db,
      cache,
      keys,
      state,
      changes,
      users,
      clients: clientStore(db.sql, afterChange),
      agents: agentStore(db.sql, afterChange, agentPages({ counted: metrics.agentsPageMemo })),
      sessionRows,
      sessions: sessionService({ config, log, cache, state, changes: { lookup: changes.lookup, afterChange }, store: sessionRows, users, keys, metrics, activity }),
      activity,
      audit,
      metrics,
      events: { rows: eventRows, feed, recorder },
      webhooks: webhookStore(db.sql),
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}

export async function closeServices(services: Services): Promise<void> {
  // The audit queue is flushed (or spooled) before the database closes.
  await services.audit.close().catch((err: Error) => services.log.error({ err: err.message }, 'audit flush at shutdown failed'));
  await services.activity.flush();
  await services.events.recorder.flush().catch((err: Error) => services.log.error({ err: err.message }, 'session events flush at shutdown failed'));
  services.events.feed.stop();
  services.changes.stop();
  await Promise.allSettled([services.cache.close(), services.db.close()]);
}
