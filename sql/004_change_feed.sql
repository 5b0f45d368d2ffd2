-- The change feed (server/stores/changeFeed.ts): every session end, user or client state change and
-- token revocation is announced on the channel tether_changes in the transaction that makes it, so an
-- instance with an in-process cache applies changes made by the CLI or another instance.
create or replace function tether_announce_change() returns trigger language plpgsql as $$
begin
  if tg_table_name = 'api_sessions' then
    perform pg_notify('tether_changes', json_build_object('t', 'session', 'hash', new.session_hash, 'reason', coalesce(new.end_reason, 'revoked'))::text);
  elsif tg_table_name = 'users' then
    perform pg_notify('tether_changes', json_build_object('t', 'user', 'id', new.id, 'active', new.is_active, 'admin', new.is_admin)::text);
  elsif tg_table_name = 'oauth_clients' then
    perform pg_notify('tether_changes', json_build_object('t', 'client', 'id', new.id, 'active', new.is_active, 'scopes', new.scopes)::text);
  elsif tg_table_name = 'revoked_tokens' then
    perform pg_notify('tether_changes', json_build_object('t', 'token', 'jti', new.jti, 'exp', floor(extract(epoch from new.expires_at)))::text);
  end if;
  return null;
end $$;

create trigger api_sessions_ended after update on api_sessions
  for each row when (old.is_active and not new.is_active) execute function tether_announce_change();
create trigger users_state_changed after update on users
  for each row when (old.is_active is distinct from new.is_active or old.is_admin is distinct from new.is_admin) execute function tether_announce_change();
create trigger oauth_clients_state_changed after update on oauth_clients
  for each row when (old.is_active is distinct from new.is_active or old.scopes is distinct from new.scopes) execute function tether_announce_change();
create trigger revoked_tokens_added after insert on revoked_tokens
  for each row execute function tether_announce_change();
