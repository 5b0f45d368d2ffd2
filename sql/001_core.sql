-- Users, OAuth clients, revoked access tokens, sessions, and the example business domain.

create table users (
  id            bigserial primary key,
  login         text not null,
  password_hash text not null,
  name          text not null default '',
  is_admin      boolean not null default false,
  is_active     boolean not null default true,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now()
);
-- Logins are matched case-insensitively (an email typed with a capital still logs in).
create unique index users_login_key on users (lower(login));

create table oauth_clients (
  id          text primary key,                -- the client_id
  name        text not null,
  secret_hash text not null,                   -- SHA-256 of a 256-bit random secret, hex
  scopes      text[] not null default '{}',
  is_active   boolean not null default true,
  created_at  timestamptz not null default now()
);

create table revoked_tokens (
  jti        text primary key,
  client_id  text not null references oauth_clients (id),
  revoked_at timestamptz not null default now(),
  expires_at timestamptz not null              -- after this the row may be pruned
);

create table api_sessions (
  id                 bigserial primary key,
  session_hash       text not null unique,     -- SHA-256 of the session_id, hex; the raw id is never stored
  user_id            bigint not null references users (id),
  client_id          text not null references oauth_clients (id),
  security_token     text,                     -- the session's JWT; NULL is the seed's "Session token required"
  ip                 text not null default '',
  user_agent         text not null default '',
  accept_language    text not null default '',
  client_fingerprint text,
  login_at           timestamptz not null default now(),
  last_activity      timestamptz not null default now(),
  expires_at         timestamptz not null,     -- the absolute end (login + SESSION_ABSOLUTE_TIMEOUT)
  logout_at          timestamptz,
  is_active          boolean not null default true,
  end_reason         text check (end_reason in ('idle', 'absolute', 'logout', 'revoked', 'cap', 'user_disabled'))
);
create index api_sessions_user_active on api_sessions (user_id, login_at) where is_active;
create index api_sessions_active_activity on api_sessions (last_activity) where is_active;
create index api_sessions_login_at on api_sessions (login_at);

create table agents (
  id          bigserial primary key,
  name        text not null,
  description text not null default '',
  is_active   boolean not null default true,
  created_by  bigint references users (id),
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);
create index agents_active_id on agents (id) where is_active;
