// The audit's day partitions (sql/014) and retention. Each run makes the partitions of yesterday
// through a week ahead when missing (at start, then hourly: a missed run leaves days in hand), and,
// with RETENTION_DAYS > 0, drops the day partitions wholly older than RETENTION_DAYS instead of
// deleting rows; rows that landed in the default partition, and ended sessions, are deleted in bounded
// chunks so no delete holds locks for long. A day is dropped once all of it is past the cutoff, so a
// row is kept RETENTION_DAYS, and at most one day more. RETENTION_DAYS=0 keeps everything.
import type { Logger } from 'pino';
import type { Sql } from '../stores/database.ts';
import type { SessionStore } from '../stores/sessionStore.ts';
import type { EventStore } from '../stores/eventStore.ts';

/** Days of partitions made ahead: a week of runs may fail before a row lands in the default partition. */
export const PARTITION_DAYS_AHEAD = 7;

export async function ensureAuditPartitions(sql: Sql): Promise<number> {
  const [row] = await sql<{ made: number }[]>`
    select tether_audit_partitions((now() at time zone 'UTC')::date - 1, (now() at time zone 'UTC')::date + ${PARTITION_DAYS_AHEAD}::int) as made`;
  return row.made;
}

export function retention(deps: { sql: Sql; store: SessionStore; events?: Pick<EventStore, 'deleteBefore'>; log: Logger; days: number }) {
  const { sql, store, log, days } = deps;
  return async function prune(): Promise<{ audit_partitions: number; audit_rows: number; sessions: number; session_events: number }> {
    const made = await ensureAuditPartitions(sql);
    if (made) log.info({ partitions: made }, '[AUDIT PARTITIONS] day partitions made ahead');
    if (days <= 0) return { audit_partitions: 0, audit_rows: 0, sessions: 0, session_events: 0 };
    const before = new Date(Date.now() - days * 86400_000);
    const [{ dropped }] = await sql<{ dropped: number }[]>`select tether_audit_drop_partitions(${before}) as dropped`;
    let auditRows = 0;
    let sessionRows = 0;
    for (let round = 0; round < 20; round++) {
      const deleted = await sql`delete from api_access_log_default where id in (select id from api_access_log_default where at < ${before} limit 10000)`;
      auditRows += deleted.count;
      if (deleted.count < 10000) break;
    }
    for (let round = 0; round < 20; round++) {
      const deleted = await store.deleteEndedBefore(before);
      sessionRows += deleted;
      if (deleted < 5000) break;
    }
    // Session events (and their webhook deliveries) are kept as long as the audit.
    const eventRows = deps.events ? await deps.events.deleteBefore(before) : 0;
    if (dropped || auditRows || sessionRows || eventRows) log.info({ audit_partitions: dropped, audit_rows: auditRows, sessions: sessionRows, session_events: eventRows, days }, '[RETENTION] old rows deleted');
    return { audit_partitions: dropped, audit_rows: auditRows, sessions: sessionRows, session_events: eventRows };
  };
}
