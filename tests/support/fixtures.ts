// Test fixtures over the real stores and real HTTP: OAuth clients, users, tokens, logged-in sessions.
import { randomBytes } from 'node:crypto';
import { hashPassword } from '../../server/auth/passwords.ts';
import * as assert from 'uvu/assert';
import postgres from 'postgres';
import { realStores, type TestTether } from './tether.ts';
import type { Sql } from '../../server/stores/database.ts';

export const UA = 'TestClient/1.0';
export const LANG = 'en-US';

export const unique = (prefix: string) => `${prefix}_${randomBytes(6).toString('hex')}`;

export async function newClient(t: TestTether, scopes: string[] = []): Promise<{ id: string; secret: string }> {
  const { client, secret } = await t.services.clients.create(unique('client'), scopes);
  return { id: client.id, secret };
}

/** An access token from the real token endpoint. */
export async function tokenFor(t: TestTether, client: { id: string; secret: string }): Promise<string> {
  const res = await fetch(`${t.url}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`no token: ${JSON.stringify(body)}`);
  return body.access_token;
}

export async function newUser(t: TestTether, options: { admin?: boolean; password?: string; login?: string } = {}) {
  const password = options.password ?? `pw-${randomBytes(8).toString('hex')}`;
  const row = await t.services.users.create({ login: options.login ?? unique('user'), passwordHash: await hashPassword(password), name: 'Test User', isAdmin: options.admin });
  return { id: row.id, login: row.login, password };
}

export interface Headers {
  [name: string]: string;
}

/** The headers a consistent client sends on every request. */
export const clientHeaders = (token: string, extra: Headers = {}): Headers => ({ authorization: `Bearer ${token}`, 'user-agent': UA, 'accept-language': LANG, ...extra });

/** A logged-in user: client, token, session id, and a `call` that sends them the same way every time. */
export async function loggedIn(t: TestTether, options: { admin?: boolean; scopes?: string[]; headers?: Headers; client?: { id: string; secret: string } } = {}) {
  const client = options.client ?? (await newClient(t, options.scopes ?? []));
  const token = await tokenFor(t, client);
  const user = await newUser(t, { admin: options.admin });
  const headers = clientHeaders(token, options.headers);
  const res = await t.rpc('users.login', { login: user.login, password: user.password }, headers);
  const sessionId: string | undefined = res.body?.result?.session_id;
  if (!sessionId) throw new Error(`login failed: ${res.text}`);
  return {
    client,
    token,
    user,
    sessionId,
    headers,
    login: res.body.result,
    /** JSON-RPC call with session_id in params and the login's headers (overridable). */
    call: (method: string, params: Record<string, unknown> = {}, extraHeaders: Headers = {}) => t.rpc(method, { session_id: sessionId, ...params }, { ...headers, ...extraHeaders }),
  };
}

/** Revokes a session's access token through POST /api/v1/auth/revoke (as its client); fails the test unless answered 200. */
export async function revokeToken(t: TestTether, s: { client: { id: string; secret: string }; token: string }): Promise<void> {
  const res = await fetch(t.url + '/api/v1/auth/revoke', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_id: s.client.id, client_secret: s.client.secret, token: s.token }),
  });
  assert.is(res.status, 200, 'revocation answered');
}

/**
 * SQL typed by hand, as an operator in psql would: on a connection of its own in real mode (no
 * instance sees it coming), on the instance's own database in embedded mode (PGlite is in-process).
 */
export function sqlByHand(t: TestTether): { sql: Sql; close(): Promise<void> } {
  if (!realStores) return { sql: t.services.db.sql, close: async () => {} };
  const own = postgres(process.env.DATABASE_URL as string, { max: 1, onnotice: () => {} });
  return { sql: own as unknown as Sql, close: () => own.end({ timeout: 5 }) };
}
