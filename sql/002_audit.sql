-- One row per JSON-RPC call (each element of a batch, protocol errors included) and per transport refusal.
create table api_access_log (
  id             bigserial primary key,
  event_id       uuid not null,                -- made by the writer: a replayed spool never inserts a row twice
  at             timestamptz not null,
  request_id     text not null,
  method         text not null,
  status         integer not null,             -- the call's status: error.status, or 200
  error_code     text,
  duration_ms    real not null,
  user_id        bigint,
  client_id      text,
  session_hash_prefix text,                    -- first 16 hex characters of the session's SHA-256 (api_sessions.session_hash)
  ip             text,
  user_agent     text
);
create unique index api_access_log_event on api_access_log (event_id);
-- Append-only and written in time order: BRIN is tiny and fits range scans on time.
create index api_access_log_at on api_access_log using brin (at);
create index api_access_log_user_at on api_access_log (user_id, at desc) where user_id is not null;
create index api_access_log_client_at on api_access_log (client_id, at desc) where client_id is not null;
create index api_access_log_status_at on api_access_log (status, at desc);
