// A webhook's HMAC secret: made once (shown once), kept encrypted at rest with AES-256-GCM under a key
// derived from JWT_SECRET (keys.ts), since signing needs the secret itself, not a hash of it. A change
// of JWT_SECRET makes stored secrets unreadable: their deliveries fail with "secret unreadable" until
// the hook is added again.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, type KeyObject } from 'node:crypto';

/** whsec_ + 32 random bytes, base64url: the prefix says what it is when it turns up in a config file. */
export const newHookSecret = (): string => `whsec_${randomBytes(32).toString('base64url')}`;

export function sealSecret(key: KeyObject, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return `v1.${iv.toString('base64url')}.${body.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
}

export function openSecret(key: KeyObject, sealed: string): string | undefined {
  const [version, iv, body, tag] = sealed.split('.');
  if (version !== 'v1' || !iv || !body || !tag) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** The Tether-Signature header: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed by the secret>. */
export function signatureHeader(secret: string, body: string, at = Math.floor(Date.now() / 1000)): string {
  return `t=${at},v1=${createHmac('sha256', secret).update(`${at}.${body}`).digest('hex')}`;
}
