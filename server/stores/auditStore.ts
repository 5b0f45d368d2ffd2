// Reading api_access_log: filtered, newest first, keyset-paginated on (at, id) so a page is cheap
// however deep the cursor is, and rows written meanwhile never shift a page. The status index holds
// refusals only (sql/007): `status <> 200` beside a refusal's status lets a prepared plan use it.
import type { Sql } from './database.ts';

export interface AuditFilter {
  from?: Date;
  to?: Date;
  userId?: number;
  clientId?: string;
  method?: string;
  status?: number;
  errorCode?: string;
  /** The last row of the previous page. */
  after?: { at: Date; id: number };
  limit: number;
}

export interface AuditRow {
  id: number;
  at: Date;
  request_id: string;
  method: string;
  status: number;
  error_code: string | null;
  reason: string | null;
  duration_ms: number;
  user_id: number | null;
  client_id: string | null;
  session_hash_prefix: string | null;
  ip: string | null;
  user_agent: string | null;
  target_id: string | null;
  client_request_id: string | null;
  actor: string | null;
}

/**
 * The query for a filter, not yet run. The range on `at` prunes the audit's day partitions (sql/014):
 * a query for one day reads that day's partition only (tests/audit/audit-partitions.test.ts EXPLAINs it).
 */
export function auditQuery(sql: Sql, f: AuditFilter) {
  const all = sql`true`;
  return sql<AuditRow[]>`
    select id, at, request_id, method, status, error_code, reason, duration_ms, user_id, client_id, session_hash_prefix, ip, user_agent, target_id, client_request_id, actor
      from api_access_log
     where ${f.from ? sql`at >= ${f.from}` : all}
       and ${f.to ? sql`at < ${f.to}` : all}
       and ${f.userId !== undefined ? sql`user_id = ${f.userId}` : all}
       and ${f.clientId !== undefined ? sql`client_id = ${f.clientId}` : all}
       and ${f.method !== undefined ? sql`method = ${f.method}` : all}
       and ${f.status === undefined ? all : f.status === 200 ? sql`status = 200` : sql`status = ${f.status} and status <> 200`}
       and ${f.errorCode !== undefined ? sql`error_code = ${f.errorCode}` : all}
       and ${f.after ? sql`(at, id) < (${f.after.at}, ${f.after.id})` : all}
     order by at desc, id desc
     limit ${f.limit}`;
}

export function auditStore(sql: Sql) {
  return {
    async query(f: AuditFilter): Promise<AuditRow[]> {
      const rows = await auditQuery(sql, f);
      return rows.map((r) => ({ ...r, id: Number(r.id), user_id: r.user_id === null ? null : Number(r.user_id) }));
    },
  };
}

export type AuditStore = ReturnType<typeof auditStore>;
