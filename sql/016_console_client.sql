-- The operator console's built-in OAuth client (server/console/consoleClient.ts). The console's routes
-- act as this client on the server side: they sign its access tokens themselves, so no secret is ever
-- handed out. The stored hash is of a random value nobody keeps: the token endpoint can never issue a
-- token for it. Scope admin, as the admin methods require. Disabling it (`tether clients revoke
-- tether-console`) refuses every console call at once; CONSOLE=off stops serving the console at all.
insert into oauth_clients (id, name, secret_hash, scopes)
values (
  'tether-console',
  'Tether console (built in)',
  encode(sha256(convert_to(gen_random_uuid()::text || clock_timestamp()::text, 'UTF8')), 'hex'),
  array['admin']
)
on conflict (id) do nothing;
