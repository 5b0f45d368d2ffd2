// The console's built-in OAuth client (sql/016_console_client.sql): the console's routes act as it on
// the server side. Its access token is signed here, with the same key and claims as the token endpoint's
// (so requireJwt checks it like any other: signature, expiry, the client's live state and scopes), and
// kept for most of its lifetime: one token per process, so its status stays in the cache.
import { signAccessToken } from '../auth/accessTokens.ts';
import type { Services } from '../services.ts';

export const CONSOLE_CLIENT_ID = 'tether-console';

const tokens = new WeakMap<Services, { token: string; renewAt: number }>();

/** `Bearer <token>` for the console client, renewed once past half its lifetime. */
export function consoleBearer(services: Services): string {
  const now = Date.now();
  const kept = tokens.get(services);
  if (kept && now < kept.renewAt) return `Bearer ${kept.token}`;
  const ttl = services.config.accessTokenTtl;
  const { token } = signAccessToken(services.keys.access, CONSOLE_CLIENT_ID, ['admin'], ttl);
  tokens.set(services, { token, renewAt: now + (ttl * 1000) / 2 });
  return `Bearer ${token}`;
}
