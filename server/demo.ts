// The demo OAuth client (scope admin) and admin user `demo`: made on the first embedded start, or by
// `tether demo` on any stores. Their credentials are kept under dataDir (mode 0600, a file per store)
// so `make run` can print a working curl every time; a secret is never stored in the database, so a
// client that no longer works is replaced (and revoked), never recovered, and a password is reset
// only when the operator asks.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Services } from './services.ts';
import { hashPassword, verifyPassword } from './auth/passwords.ts';

export interface DemoCredentials {
  client_id: string;
  client_secret: string;
  login: string;
  password: string;
}

export const DEMO_LOGIN = 'demo';
const DEMO_NAME = 'Demo User';

/**
 * Where this DATA_DIR keeps the demo credentials of the configured stores: one file per store, so
 * `tether demo` on real stores never rewrites the file the embedded server's flow reads (and back).
 * Embedded: demo-credentials.json. Real PostgreSQL: demo-credentials.<host>-<port>-<database>.json.
 */
export function demoFile(services: Services): string {
  const url = services.config.databaseUrl;
  if (!url) return join(services.config.dataDir, 'demo-credentials.json');
  const { hostname, port, pathname } = new URL(url);
  const identity = `${hostname || 'localhost'}-${port || '5432'}-${decodeURIComponent(pathname.slice(1)) || 'postgres'}`.replace(/[^A-Za-z0-9._-]/g, '_');
  return join(services.config.dataDir, `demo-credentials.${identity}.json`);
}

async function readDemoFile(services: Services): Promise<Partial<DemoCredentials>> {
  try {
    return JSON.parse(await readFile(demoFile(services), 'utf8')) as Partial<DemoCredentials>;
  } catch {
    return {};
  }
}

/** The kept credentials, when both still work on these stores (active client, active demo user). */
export async function existingDemo(services: Services): Promise<DemoCredentials | undefined> {
  const kept = await readDemoFile(services);
  if (!kept.client_id || !kept.client_secret || !kept.password) return undefined;
  const client = await services.clients.authenticate(kept.client_id, kept.client_secret);
  const user = await services.users.findByLogin(DEMO_LOGIN);
  if (!client?.is_active || !user?.is_active || !(await verifyPassword(user.password_hash, kept.password))) return undefined;
  return { client_id: kept.client_id, client_secret: kept.client_secret, login: DEMO_LOGIN, password: kept.password };
}

export interface DemoOutcome {
  demo: DemoCredentials;
  /** What this call made: nothing when the kept credentials still worked. */
  created: { client: boolean; user: boolean; password_reset: boolean };
  /** The kept demo client this call replaced, now revoked (its tokens are refused). */
  revoked_client_id?: string;
}

/** The demo user exists but this DATA_DIR does not know its password: resetting it is the operator's call. */
export class DemoPasswordUnknown extends Error {}

/**
 * Idempotent: kept credentials that still work are returned as they are; otherwise what is missing is
 * made: a new demo client (the kept one it replaces is revoked) and the user `demo`. A password is
 * never reset silently: when the user exists and the kept password does not open it (another
 * checkout or DATA_DIR made it on these stores), only `resetPassword` sets a new one; else
 * DemoPasswordUnknown, before anything is made. A user `demo` that the demo did not make (not an admin
 * named "Demo User") is left alone: an error.
 */
export async function ensureDemo(services: Services, options: { resetPassword?: boolean } = {}): Promise<DemoOutcome> {
  const file = demoFile(services);
  const kept = await readDemoFile(services);
  const created = { client: false, user: false, password_reset: false };

  // The user first: a refusal must leave nothing made behind it.
  let password = kept.password ?? '';
  const user = await services.users.findByLogin(DEMO_LOGIN);
  let resetFor: number | undefined;
  if (user && (!user.is_admin || user.name !== DEMO_NAME)) {
    throw new Error(`a user with login ${DEMO_LOGIN} exists and is not the demo's (not an admin named "${DEMO_NAME}"): left alone`);
  } else if (user && !user.is_active) {
    throw new Error(`the demo user is disabled: \`tether users enable ${DEMO_LOGIN}\` first`);
  } else if (user && (!password || !(await verifyPassword(user.password_hash, password)))) {
    if (!options.resetPassword) {
      throw new DemoPasswordUnknown(
        `the user ${DEMO_LOGIN} exists on these stores, and ${password ? `the password kept in ${file} no longer opens it` : `${file} keeps no password for it`} (another checkout or DATA_DIR made it?). ` +
          `Nothing was changed. \`tether demo --reset-password\` sets a new password (credentials kept elsewhere stop working).`,
      );
    }
    resetFor = user.id;
  }

  let client = kept.client_id && kept.client_secret ? await services.clients.authenticate(kept.client_id, kept.client_secret) : undefined;
  let clientId = kept.client_id ?? '';
  let clientSecret = kept.client_secret ?? '';
  let revokedClientId: string | undefined;
  if (!client?.is_active || !client.scopes.includes('admin')) {
    const made = await services.clients.create('demo', ['admin']);
    // The kept client this one replaces (say its admin scope was taken away) must not live on unseen.
    const old = kept.client_id ? await services.clients.find(kept.client_id) : undefined;
    if (old?.is_active && old.name === 'demo') {
      await services.clients.setActive(old.id, false);
      revokedClientId = old.id;
    }
    client = made.client;
    clientId = made.client.id;
    clientSecret = made.secret;
    created.client = true;
  }

  if (!user) {
    password = randomBytes(12).toString('base64url');
    await services.users.create({ login: DEMO_LOGIN, passwordHash: await hashPassword(password), name: DEMO_NAME, isAdmin: true });
    created.user = true;
  } else if (resetFor !== undefined) {
    password = randomBytes(12).toString('base64url');
    await services.users.setPasswordHash(resetFor, await hashPassword(password));
    created.password_reset = true;
  }

  const demo = { client_id: clientId, client_secret: clientSecret, login: DEMO_LOGIN, password };
  if (created.client || created.user || created.password_reset) {
    await mkdir(services.config.dataDir, { recursive: true });
    await writeFile(file, JSON.stringify(demo, null, 2) + '\n', { mode: 0o600 });
    services.log.info({ client_id: clientId, login: DEMO_LOGIN, ...created, revoked_client_id: revokedClientId, file }, 'demo client and user ready');
  }
  return { demo, created, ...(revokedClientId ? { revoked_client_id: revokedClientId } : {}) };
}

/** The whole flow as copy-paste shell: token, login, a protected call, logout. */
export function howToCall(url: string, demo: DemoCredentials): string {
  return [
    `TOKEN=$(curl -s ${url}/api/v1/auth/token -d grant_type=client_credentials -d client_id=${demo.client_id} -d client_secret=${demo.client_secret} | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`,
    `SID=$(curl -s ${url}/api/v1/users/login -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -A 'TestClient/1.0' -d '{"jsonrpc":"2.0","id":1,"method":"call","params":{"login":"${demo.login}","password":"${demo.password}"}}' | sed -E 's/.*"session_id":"([^"]+)".*/\\1/')`,
    `curl -s ${url}/api/v1/agents/list -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -A 'TestClient/1.0' -d '{"jsonrpc":"2.0","id":2,"method":"call","params":{"session_id":"'$SID'","limit":10}}'`,
    `curl -s ${url}/api/v1/users/logout -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -A 'TestClient/1.0' -d '{"jsonrpc":"2.0","id":3,"method":"call","params":{"session_id":"'$SID'"}}'`,
  ].join('\n');
}
