-- The change log (server/cache/changeLog.ts): PostgreSQL is the truth, and every change a cache must
-- learn of is appended here, in the transaction that makes it, whatever path made it (Tether, the
-- CLI, another instance, SQL typed in psql). Instances read it by position; a notification on
-- tether_changes only wakes them.
--
-- Positions are in commit order: the rows are written by deferred triggers, at commit, under one
-- transaction-scoped advisory lock, so a reader that has seen position N has seen every position
-- below N that will ever commit (sequence gaps from rolled-back transactions are harmless). Taking
-- the lock at commit, after every row lock of the transaction, means it can never be part of a
-- deadlock.
create table cache_changes (
  pos  bigserial primary key,
  at   timestamptz not null default now(),
  -- session_end: the session ended (tombstone); session: a live session's row changed (the cache
  -- entry must be read again); user / client: their state; token: an access token revoked.
  kind text not null check (kind in ('session_end', 'session', 'user', 'client', 'token')),
  key  text not null,
  data jsonb not null default '{}'
);
create index cache_changes_at on cache_changes (at);

-- Which log a cache's position counts in: a cache shared by two databases (a staging and a
-- production on one Redis) keeps one position per database, never one for both.
create table cache_log_origin (origin text not null);
insert into cache_log_origin values (replace(gen_random_uuid()::text, '-', ''));

create or replace function tether_log_change() returns trigger language plpgsql as $$
declare
  k text;
  ident text;
  d jsonb;
begin
  if tg_table_name = 'api_sessions' then
    if tg_op = 'DELETE' then
      k := 'session_end'; ident := old.session_hash; d := jsonb_build_object('reason', 'revoked');
    elsif old.is_active and not new.is_active then
      k := 'session_end'; ident := new.session_hash; d := jsonb_build_object('reason', coalesce(new.end_reason, 'revoked'));
    else
      k := 'session'; ident := new.session_hash; d := '{}';
    end if;
  elsif tg_table_name = 'users' then
    if tg_op = 'DELETE' then
      k := 'user'; ident := old.id::text; d := jsonb_build_object('active', false, 'admin', false);
    else
      k := 'user'; ident := new.id::text; d := jsonb_build_object('active', new.is_active, 'admin', new.is_admin);
    end if;
  elsif tg_table_name = 'oauth_clients' then
    if tg_op = 'DELETE' then
      k := 'client'; ident := old.id; d := jsonb_build_object('active', false, 'scopes', '[]'::jsonb);
    else
      k := 'client'; ident := new.id; d := jsonb_build_object('active', new.is_active, 'scopes', to_jsonb(new.scopes));
    end if;
  elsif tg_table_name = 'revoked_tokens' then
    k := 'token'; ident := new.jti; d := jsonb_build_object('exp', floor(extract(epoch from new.expires_at)));
  else
    return null;
  end if;
  perform pg_advisory_xact_lock(7460502);
  insert into cache_changes (kind, key, data) values (k, ident, d);
  -- One wake-up per transaction: identical payloads are folded into one notification.
  perform pg_notify('tether_changes', '');
  return null;
end $$;

-- The old feed (004) announced changes without a position; the log replaces it.
drop trigger if exists api_sessions_ended on api_sessions;
drop trigger if exists users_state_changed on users;
drop trigger if exists oauth_clients_state_changed on oauth_clients;
drop trigger if exists revoked_tokens_added on revoked_tokens;
drop function if exists tether_announce_change();

create constraint trigger api_sessions_ended after update on api_sessions
  deferrable initially deferred for each row
  when (old.is_active and not new.is_active)
  execute function tether_log_change();
-- A live session's row changed in what validation reads (its token, lifetime, owner, fingerprint):
-- typed in psql, this is the troubleshooting guide's own remedy ("security_token IS NULL").
create constraint trigger api_sessions_changed after update on api_sessions
  deferrable initially deferred for each row
  when (old.is_active and new.is_active and (
    old.security_token is distinct from new.security_token or old.expires_at is distinct from new.expires_at
    or old.user_id is distinct from new.user_id or old.client_id is distinct from new.client_id
    or old.ip is distinct from new.ip or old.user_agent is distinct from new.user_agent
    or old.accept_language is distinct from new.accept_language or old.client_fingerprint is distinct from new.client_fingerprint
    or old.password_proved_at is distinct from new.password_proved_at or old.session_hash is distinct from new.session_hash))
  execute function tether_log_change();
-- A session row deleted while live (the guide's "deleted session") ends it.
create constraint trigger api_sessions_deleted after delete on api_sessions
  deferrable initially deferred for each row
  when (old.is_active)
  execute function tether_log_change();
create constraint trigger users_state_changed after update on users
  deferrable initially deferred for each row
  when (old.is_active is distinct from new.is_active or old.is_admin is distinct from new.is_admin)
  execute function tether_log_change();
create constraint trigger users_deleted after delete on users
  deferrable initially deferred for each row execute function tether_log_change();
create constraint trigger oauth_clients_state_changed after update on oauth_clients
  deferrable initially deferred for each row
  when (old.is_active is distinct from new.is_active or old.scopes is distinct from new.scopes)
  execute function tether_log_change();
create constraint trigger oauth_clients_deleted after delete on oauth_clients
  deferrable initially deferred for each row execute function tether_log_change();
create constraint trigger revoked_tokens_added after insert on revoked_tokens
  deferrable initially deferred for each row execute function tether_log_change();
