// JWT keys. One configured secret, two derived keys (HKDF), so an access token can never pass as a
// session's security token or the reverse. KeyObjects: jsonwebtoken rebuilds a string secret on every
// call (~350 us); a KeyObject costs ~8 us.
import { createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.ts';

export interface SigningKeys {
  access: KeyObject;
  session: KeyObject;
  /** Encrypts webhooks' HMAC secrets at rest (server/events/hookSecret.ts). */
  webhookSecrets: KeyObject;
}

export function deriveKeys(secret: string): SigningKeys {
  const derive = (purpose: string) => createSecretKey(Buffer.from(hkdfSync('sha256', secret, 'tether', purpose, 32)));
  return { access: derive('access-token'), session: derive('session-token'), webhookSecrets: derive('webhook-secret') };
}

/** JWT_SECRET, or in embedded mode one generated once and kept under dataDir (mode 0600). */
export async function resolveSecret(config: Pick<Config, 'jwtSecret' | 'databaseUrl' | 'dataDir'>): Promise<string> {
  if (config.jwtSecret) return config.jwtSecret;
  if (config.databaseUrl) throw new Error('JWT_SECRET is required when DATABASE_URL is set');
  const file = join(config.dataDir, 'jwt-secret');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    await mkdir(config.dataDir, { recursive: true });
    const secret = randomBytes(48).toString('base64url');
    await writeFile(file, secret + '\n', { mode: 0o600, flag: 'wx' }).catch(() => {});
    return (await readFile(file, 'utf8')).trim();
  }
}
