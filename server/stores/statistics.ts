// The troubleshooting guide's three monitoring queries, written for our tables, plus what refused
// and ended sessions over a window: hijack detections by component, session ends by reason.
import type { Sql } from './database.ts';
import { END_REASONS } from '../sessions/endReasons.ts';

export async function sessionStatistics(sql: Sql, idleTimeout: number, windowSeconds = 86400) {
  const [row] = await sql<{ active_sessions: number; average_session_duration_seconds: number | null; unauthorized_last_day: number }[]>`
    select
      (select count(*)::int from api_sessions
        where is_active and expires_at > now() and last_activity > now() - make_interval(secs => ${idleTimeout})) as active_sessions,
      (select avg(extract(epoch from (logout_at - login_at)))::float8 from api_sessions where logout_at is not null) as average_session_duration_seconds,
      (select count(*)::int from api_access_log where status = 401 and at > now() - interval '1 day') as unauthorized_last_day`;
  const hijacks = await sql<{ component: string; n: number }[]>`
    select coalesce(reason, 'unknown') as component, count(*)::int as n from api_access_log
     where error_code = 'SESSION_INVALID' and at > now() - make_interval(secs => ${windowSeconds})
     group by 1`;
  const ends = await sql<{ reason: string; n: number }[]>`
    select end_reason as reason, count(*)::int as n from api_sessions
     where ended_at > now() - make_interval(secs => ${windowSeconds}) and end_reason is not null
     group by 1`;
  return {
    active_sessions: row.active_sessions,
    average_session_duration_seconds: Math.round((row.average_session_duration_seconds ?? 0) * 10) / 10,
    unauthorized_last_day: row.unauthorized_last_day,
    window_seconds: windowSeconds,
    hijack_detections: Object.fromEntries(hijacks.map((h) => [h.component, h.n])),
    // Every reason, 0 when none ended for it in the window.
    sessions_ended: { ...Object.fromEntries(END_REASONS.map((r) => [r, 0])), ...Object.fromEntries(ends.map((e) => [e.reason, e.n])) },
  };
}

/**
 * Per minute over the last `minutes` (the current one included, oldest first, every minute present):
 * logins that opened a session, and refused calls by error_code, from the audit.
 */
export async function callTimeline(sql: Sql, minutes: number) {
  const rows = await sql<{ minute: number; code: string | null; n: number }[]>`
    select extract(epoch from date_trunc('minute', at))::float8 as minute, error_code as code, count(*)::int as n
      from api_access_log
     where at >= date_trunc('minute', now()) - make_interval(mins => ${minutes - 1})
       and (status <> 200 or method = 'users.login')
     group by 1, 2`;
  const [{ now }] = await sql<{ now: number }[]>`select extract(epoch from date_trunc('minute', now()))::float8 as now`;
  const byMinute = new Map<number, { logins: number; refusals: Record<string, number> }>();
  for (let i = minutes - 1; i >= 0; i--) byMinute.set(now - i * 60, { logins: 0, refusals: {} });
  for (const row of rows) {
    const slot = byMinute.get(row.minute);
    if (!slot) continue;
    if (row.code === null) slot.logins += row.n;
    else slot.refusals[row.code] = (slot.refusals[row.code] ?? 0) + row.n;
  }
  return [...byMinute].map(([minute, counts]) => ({ minute: new Date(minute * 1000).toISOString(), ...counts }));
}
