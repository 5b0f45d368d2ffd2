-- Session events (server/events/): every session opened, ended, refused for a fingerprint mismatch,
-- and every login throttled, numbered in commit order.
--
-- Opens and ends are written by deferred triggers on api_sessions, in the transaction that makes
-- them, whatever path made them (Tether, the CLI, the sweeper, SQL typed in psql). Refusals and
-- throttles change no row: Tether inserts them in batches (server/events/eventRecorder.ts). Both
-- insert under the change log's transaction-scoped advisory lock (sql/008), taken at commit, so ids
-- are in commit order: a reader that has seen id N has seen every id below N that will ever commit.

-- The first 8 characters of the session id (what a log line may show), kept for the events: only the
-- session id's hash is stored otherwise. NULL for sessions opened before this migration.
alter table api_sessions add column id_prefix text;

create table session_events (
  id             bigserial primary key,
  type           text not null check (type in ('session.opened', 'session.ended', 'session.refused', 'login.throttled')),
  at             timestamptz not null default now(),
  user_id        bigint,
  client_id      text,
  session_prefix text,
  reason         text,
  -- api_sessions.id: orders a session's webhook deliveries; never shown.
  session_row    bigint
);
create index session_events_at on session_events (at);

create or replace function tether_session_event() returns trigger language plpgsql as $$
begin
  perform pg_advisory_xact_lock(7460502);
  if tg_op = 'INSERT' then
    insert into session_events (type, at, user_id, client_id, session_prefix, reason, session_row)
    values ('session.opened', now(), new.user_id, new.client_id, new.id_prefix, null, new.id);
  elsif tg_op = 'DELETE' then
    insert into session_events (type, at, user_id, client_id, session_prefix, reason, session_row)
    values ('session.ended', now(), old.user_id, old.client_id, old.id_prefix, 'revoked', old.id);
  else
    insert into session_events (type, at, user_id, client_id, session_prefix, reason, session_row)
    values ('session.ended', coalesce(new.ended_at, now()), new.user_id, new.client_id, new.id_prefix, coalesce(new.end_reason, 'revoked'), new.id);
  end if;
  perform pg_notify('tether_events', '');
  return null;
end $$;

create constraint trigger api_sessions_opened_event after insert on api_sessions
  deferrable initially deferred for each row execute function tether_session_event();
create constraint trigger api_sessions_ended_event after update on api_sessions
  deferrable initially deferred for each row
  when (old.is_active and not new.is_active)
  execute function tether_session_event();
create constraint trigger api_sessions_deleted_event after delete on api_sessions
  deferrable initially deferred for each row
  when (old.is_active)
  execute function tether_session_event();

-- Webhooks: each event a hook asks for becomes a delivery row in the event's own transaction (the
-- trigger below), so nothing is lost between an event and its delivery; server/events/webhookWorker.ts
-- claims due rows (one instance at a time per row) and POSTs them, in order per hook and session.
create table webhooks (
  id         bigserial primary key,
  url        text not null,
  events     text[] not null,
  -- The HMAC key, encrypted (AES-256-GCM under a key derived from JWT_SECRET): shown once at add.
  secret     text not null,
  is_active  boolean not null default true,
  created_at timestamptz not null default now()
);

create table webhook_deliveries (
  id              bigserial primary key,
  hook_id         bigint not null references webhooks (id) on delete cascade,
  event_id        bigint not null references session_events (id) on delete cascade,
  -- Deliveries of one hook with the same key go out in event order (the session's row id; a
  -- throttle has none and waits for nothing).
  order_key       bigint,
  status          text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
  attempts        integer not null default 0,
  -- When it was queued (or queued again by a redeliver): retried until WEBHOOK_RETRY_FOR after it.
  queued_at       timestamptz not null default now(),
  next_attempt_at timestamptz not null default now(),
  -- A claim: the instance delivering it holds it until then; a crash lets it go at that time.
  claimed_until   timestamptz,
  last_attempt_at timestamptz,
  last_status     integer,
  last_error      text,
  delivered_at    timestamptz,
  unique (hook_id, event_id)
);
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_order on webhook_deliveries (hook_id, order_key, event_id) where status = 'pending';
create index webhook_deliveries_hook on webhook_deliveries (hook_id, id);

create or replace function tether_webhook_fanout() returns trigger language plpgsql as $$
begin
  insert into webhook_deliveries (hook_id, event_id, order_key)
  select h.id, new.id, new.session_row from webhooks h where h.is_active and new.type = any (h.events);
  return null;
end $$;

create trigger session_events_fanout after insert on session_events
  for each row execute function tether_webhook_fanout();
