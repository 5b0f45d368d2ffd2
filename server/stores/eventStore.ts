// session_events (sql/015): read by id, in commit order; refusals and throttles inserted in batches.
import type { Sql } from './database.ts';
import type { EventRow, EventType } from '../events/sessionEvent.ts';

/** An event Tether records itself (no row of api_sessions changes for it). */
export interface NewEvent {
  type: EventType;
  at: Date;
  user_id: number | null;
  client_id: string | null;
  session_prefix: string | null;
  reason: string | null;
  /** api_sessions.id when the event is about a session (orders its webhook deliveries). */
  session_row: number | null;
}

/** The change log's lock (sql/008): ids are taken at commit under it, so they are in commit order. */
const ORDER_LOCK = 7460502;

export function eventStore(sql: Sql) {
  return {
    /** Events after `afterId` (exclusive), oldest first. */
    async after(afterId: string, limit: number): Promise<EventRow[]> {
      return sql<EventRow[]>`
        select id::text as id, type, at, user_id::text as user_id, client_id, session_prefix, reason
          from session_events where session_events.id > ${afterId}::bigint order by session_events.id limit ${limit}`;
    },

    /** The highest id committed, '0' when none. */
    async head(): Promise<string> {
      const [row] = await sql<{ id: string }[]>`select coalesce(max(id), 0)::text as id from session_events`;
      return row.id;
    },

    /** One transaction, the lock first: the batch's ids follow every id committed before it. */
    async insert(events: NewEvent[]): Promise<void> {
      if (!events.length) return;
      const col = <K extends keyof NewEvent>(k: K) => events.map((e) => e[k] ?? null);
      await sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(${ORDER_LOCK})`;
        await tx`
          insert into session_events (type, at, user_id, client_id, session_prefix, reason, session_row)
          select * from unnest(${col('type') as string[]}::text[], ${events.map((e) => e.at.toISOString())}::timestamptz[],
                               ${col('user_id') as (number | null)[]}::bigint[], ${col('client_id') as (string | null)[]}::text[],
                               ${col('session_prefix') as (string | null)[]}::text[], ${col('reason') as (string | null)[]}::text[],
                               ${col('session_row') as (number | null)[]}::bigint[])`;
        await tx`select pg_notify('tether_events', '')`;
      });
    },

    /** Retention: events (and their deliveries) older than `before`, in bounded chunks; answers how many. */
    async deleteBefore(before: Date, limit = 10_000): Promise<number> {
      let total = 0;
      for (let round = 0; round < 20; round++) {
        const rows = await sql`delete from session_events where id in (select id from session_events where at < ${before} order by id limit ${limit})`;
        total += rows.count;
        if (rows.count < limit) break;
      }
      return total;
    },
  };
}

export type EventStore = ReturnType<typeof eventStore>;
