-- Account security: when a session last proved its user's password (admin methods ask for a recent
-- proof, ADMIN_REAUTH_WINDOW), and the end reasons of password changes, resets and re-authentication.

-- A login is a proof: new rows get their insert time (= login time); existing rows their login time.
alter table api_sessions add column password_proved_at timestamptz;
update api_sessions set password_proved_at = login_at where password_proved_at is null;
alter table api_sessions alter column password_proved_at set default now();
alter table api_sessions alter column password_proved_at set not null;

-- password_changed: ended by the user's own users.change_password (the caller's old id and every other
-- session); password_reset: ended by an administrator's admin.users.reset_password; reauthenticated:
-- the old id of a session renewed by sessions.reauthenticate.
alter table api_sessions drop constraint if exists api_sessions_end_reason_check;
alter table api_sessions add constraint api_sessions_end_reason_check check (end_reason in
  ('idle', 'absolute', 'logout', 'revoked', 'cap', 'user_disabled', 'password_changed', 'password_reset', 'reauthenticated'));
