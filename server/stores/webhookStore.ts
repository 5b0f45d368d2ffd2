// webhooks and webhook_deliveries (sql/015). A delivery row is made by a trigger in the event's own
// transaction; the worker claims due rows with one UPDATE over a FOR UPDATE SKIP LOCKED selection, so
// two instances never hold the same delivery at once, and a row is due only when no earlier delivery
// of the same hook and session is still pending (order per session).
import type { Sql } from './database.ts';
import type { EventRow } from '../events/sessionEvent.ts';

export interface HookRow {
  id: number;
  url: string;
  events: string[];
  is_active: boolean;
  created_at: Date;
  pending: number;
  failed: number;
  delivered: number;
  last_attempt_at: Date | null;
  last_status: number | null;
  last_error: string | null;
}

export interface DeliveryRow {
  id: number;
  hook_id: number;
  event_id: string;
  event_type: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  queued_at: Date;
  next_attempt_at: Date;
  last_attempt_at: Date | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: Date | null;
}

/** A claimed delivery: what the worker needs to POST it. */
export interface Claimed {
  id: number;
  hook_id: number;
  url: string;
  secret: string;
  attempts: number;
  queued_at: Date;
  event: EventRow;
}

const int = (v: unknown) => Number(v);

export function webhookStore(sql: Sql) {
  return {
    async add(url: string, events: string[], sealedSecret: string): Promise<{ id: number; created_at: Date }> {
      const [row] = await sql<{ id: number; created_at: Date }[]>`
        insert into webhooks (url, events, secret) values (${url}, ${events}::text[], ${sealedSecret}) returning id, created_at`;
      return { id: int(row.id), created_at: row.created_at };
    },

    async list(): Promise<HookRow[]> {
      const rows = await sql<HookRow[]>`
        select h.id, h.url, h.events, h.is_active, h.created_at,
               count(*) filter (where d.status = 'pending')::int as pending,
               count(*) filter (where d.status = 'failed')::int as failed,
               count(*) filter (where d.status = 'delivered')::int as delivered,
               max(d.last_attempt_at) as last_attempt_at,
               (select l.last_status from webhook_deliveries l where l.hook_id = h.id and l.last_attempt_at is not null order by l.last_attempt_at desc, l.id desc limit 1) as last_status,
               (select l.last_error from webhook_deliveries l where l.hook_id = h.id and l.last_attempt_at is not null order by l.last_attempt_at desc, l.id desc limit 1) as last_error
          from webhooks h left join webhook_deliveries d on d.hook_id = h.id
         group by h.id order by h.id`;
      return rows.map((r) => ({ ...r, id: int(r.id) }));
    },

    /** Deletes the hook and its deliveries; answers whether it existed. */
    async remove(id: number): Promise<boolean> {
      const rows = await sql`delete from webhooks where id = ${id}`;
      return rows.count > 0;
    },

    async deliveries(filter: { hookId?: number; status?: string; limit: number; beforeId?: number }): Promise<DeliveryRow[]> {
      const hook = filter.hookId === undefined ? sql`true` : sql`d.hook_id = ${filter.hookId}`;
      const status = filter.status === undefined ? sql`true` : sql`d.status = ${filter.status}`;
      const before = filter.beforeId === undefined ? sql`true` : sql`d.id < ${filter.beforeId}`;
      const rows = await sql<DeliveryRow[]>`
        select d.id, d.hook_id, d.event_id::text as event_id, e.type as event_type, d.status, d.attempts, d.queued_at, d.next_attempt_at,
               d.last_attempt_at, d.last_status, d.last_error, d.delivered_at
          from webhook_deliveries d join session_events e on e.id = d.event_id
         where ${hook} and ${status} and ${before}
         order by d.id desc limit ${filter.limit}`;
      return rows.map((r) => ({ ...r, id: int(r.id), hook_id: int(r.hook_id) }));
    },

    /** Queues a delivery again (any status), due now, with a new retry window; answers whether it exists. */
    async redeliver(id: number): Promise<boolean> {
      const rows = await sql`
        update webhook_deliveries set status = 'pending', next_attempt_at = now(), queued_at = now(), claimed_until = null
         where id = ${id}`;
      return rows.count > 0;
    },

    /**
     * Claims up to `limit` due deliveries for `leaseSeconds`, oldest event first: one statement, so two
     * instances never claim one row (SKIP LOCKED passes over rows another claim holds; a row claimed
     * and committed meanwhile fails the re-checked condition). A crash leaves the claim to expire: the
     * delivery is then made again (at least once).
     */
    async claim(limit: number, leaseSeconds: number): Promise<Claimed[]> {
      const rows = await sql<(Omit<Claimed, 'event'> & { e_id: string; e_type: EventRow['type']; e_at: Date; e_user: string | null; e_client: string | null; e_prefix: string | null; e_reason: string | null })[]>`
        with due as (
          select d.id from webhook_deliveries d
           where d.status = 'pending' and d.next_attempt_at <= now() and (d.claimed_until is null or d.claimed_until < now())
             and not exists (
               select 1 from webhook_deliveries p
                where p.hook_id = d.hook_id and p.order_key = d.order_key and p.status = 'pending' and p.event_id < d.event_id)
           order by d.event_id
           limit ${limit}
           for update skip locked)
        update webhook_deliveries w
           set claimed_until = now() + make_interval(secs => ${leaseSeconds}), attempts = w.attempts + 1, last_attempt_at = now()
          from due, webhooks h, session_events e
         where w.id = due.id and h.id = w.hook_id and e.id = w.event_id
        returning w.id, w.hook_id, h.url, h.secret, w.attempts, w.queued_at,
                  e.id::text as e_id, e.type as e_type, e.at as e_at, e.user_id::text as e_user, e.client_id as e_client,
                  e.session_prefix as e_prefix, e.reason as e_reason`;
      return rows
        .map((r) => ({
          id: int(r.id),
          hook_id: int(r.hook_id),
          url: r.url,
          secret: r.secret,
          attempts: r.attempts,
          queued_at: r.queued_at,
          event: { id: r.e_id, type: r.e_type, at: r.e_at, user_id: r.e_user, client_id: r.e_client, session_prefix: r.e_prefix, reason: r.e_reason },
        }))
        .sort((a, b) => (BigInt(a.event.id) < BigInt(b.event.id) ? -1 : 1));
    },

    async delivered(id: number, status: number): Promise<void> {
      await sql`
        update webhook_deliveries set status = 'delivered', delivered_at = now(), last_status = ${status}, last_error = null, claimed_until = null
         where id = ${id}`;
    },

    /** A failed attempt: due again at `nextAt`, or given up (`nextAt` undefined). */
    async attemptFailed(id: number, status: number | null, error: string, nextAt: Date | undefined): Promise<void> {
      await sql`
        update webhook_deliveries
           set last_status = ${status}, last_error = ${error.slice(0, 500)}, claimed_until = null,
               status = ${nextAt ? 'pending' : 'failed'}, next_attempt_at = coalesce(${nextAt ?? null}::timestamptz, next_attempt_at)
         where id = ${id}`;
    },

    /** The soonest next attempt of a pending delivery (the worker sleeps until then at most). */
    async nextDue(): Promise<Date | undefined> {
      const [row] = await sql<{ at: Date | null }[]>`select min(next_attempt_at) as at from webhook_deliveries where status = 'pending'`;
      return row.at ?? undefined;
    },
  };
}

export type WebhookStore = ReturnType<typeof webhookStore>;
