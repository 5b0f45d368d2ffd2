// Ends sessions nobody calls again: past their absolute end ('absolute') or idle too long ('idle'),
// so PostgreSQL, admin.stats and the metrics tell the truth without waiting for a call. Safe on
// several instances at once: each row is ended by exactly one UPDATE.
import type { Logger } from 'pino';
import type { SessionStore } from '../stores/sessionStore.ts';
import type { Metrics } from '../metrics.ts';

export function sessionSweeper(deps: {
  store: SessionStore;
  afterChange: () => Promise<void>;
  /** Drops change-log rows no cache can need any more; answers how many. */
  pruneLog: () => Promise<number>;
  metrics: Pick<Metrics, 'sessionsEnded'>;
  log: Logger;
  idleTimeout: number;
}) {
  const { store, afterChange, pruneLog, metrics, log, idleTimeout } = deps;
  return async function sweep(): Promise<{ absolute: number; idle: number }> {
    let total = { absolute: 0, idle: 0 };
    // Bounded rounds: a backlog is worked off in chunks without one long transaction.
    for (let round = 0; round < 20; round++) {
      const ended = await store.endExpired(idleTimeout);
      metrics.sessionsEnded('absolute', ended.absolute.length);
      metrics.sessionsEnded('idle', ended.idle.length);
      // The ends are in the change log; every cache applies them from there.
      if (ended.absolute.length + ended.idle.length) await afterChange();
      total = { absolute: total.absolute + ended.absolute.length, idle: total.idle + ended.idle.length };
      if (ended.absolute.length + ended.idle.length < 1000) break;
    }
    if (total.absolute || total.idle) log.info(total, '[SESSION SWEEP] expired sessions ended');
    const pruned = await pruneLog();
    if (pruned) log.info({ rows: pruned }, '[CHANGE LOG] rows past every cache TTL pruned');
    return total;
  };
}
