// The first embedded start creates a demo OAuth client (scope admin) and an admin user, and keeps
// their credentials under dataDir so `make run` can print a working curl every time. Embedded only.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Services } from './services.ts';
import { hashPassword } from './auth/passwords.ts';

export interface DemoCredentials {
  client_id: string;
  client_secret: string;
  login: string;
  password: string;
}

export async function ensureDemo(services: Services): Promise<DemoCredentials> {
  const file = join(services.config.dataDir, 'demo-credentials.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as DemoCredentials;
  } catch {
    const { client, secret } = await services.clients.create('demo', ['admin']);
    const password = randomBytes(12).toString('base64url');
    const existing = await services.users.findByLogin('demo');
    if (!existing) await services.users.create({ login: 'demo', passwordHash: await hashPassword(password), name: 'Demo User', isAdmin: true });
    const demo = { client_id: client.id, client_secret: secret, login: 'demo', password };
    await writeFile(file, JSON.stringify(demo, null, 2) + '\n', { mode: 0o600 });
    services.log.info({ client_id: client.id, login: 'demo' }, 'demo client and user created (embedded mode)');
    return demo;
  }
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
