// Retention: audit rows and ended sessions older than RETENTION_DAYS are deleted in the background,
// in bounded chunks so no delete holds locks for long. RETENTION_DAYS=0 keeps everything.
import type { Logger } from 'pino';
import type { Sql } from '../stores/database.ts';
import type { SessionStore } from '../stores/sessionStore.ts';

export function retention(deps: { sql: Sql; store: SessionStore; log: Logger; days: number }) {
  const { sql, store, log, days } = deps;
  return async function prune(): Promise<{ audit_rows: number; sessions: number }> {
    if (days <= 0) return { audit_rows: 0, sessions: 0 };
    const before = new Date(Date.now() - days * 86400_000);
    let auditRows = 0;
    let sessionRows = 0;
    for (let round = 0; round < 20; round++) {
      const deleted = await sql`delete from api_access_log where id in (select id from api_access_log where at < ${before} limit 10000)`;
      auditRows += deleted.count;
      if (deleted.count < 10000) break;
    }
    for (let round = 0; round < 20; round++) {
      const deleted = await store.deleteEndedBefore(before);
      sessionRows += deleted;
      if (deleted < 5000) break;
    }
    if (auditRows || sessionRows) log.info({ audit_rows: auditRows, sessions: sessionRows, days }, '[RETENTION] old rows deleted');
    return { audit_rows: auditRows, sessions: sessionRows };
  };
}
