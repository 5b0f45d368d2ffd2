// A session's security token: an HS256 JWT that binds the session (by hash) to its user, its OAuth
// client and the fingerprint taken at login; exp is the session's absolute end.
import jwt from 'jsonwebtoken';
import type { KeyObject } from 'node:crypto';
import type { Fingerprint } from './fingerprint.ts';

const AUDIENCE = 'tether:session';

export interface SecurityClaims {
  uid: number;
  sid: string;
  cid: string;
  fingerprint: Fingerprint;
  iat: number;
  exp: number;
}

export function signSecurityToken(key: KeyObject, claims: Omit<SecurityClaims, 'iat' | 'exp'>, lifetimeSeconds: number): string {
  return jwt.sign(claims, key, { algorithm: 'HS256', expiresIn: lifetimeSeconds, audience: AUDIENCE });
}

export type SecurityVerdict = { ok: true; claims: SecurityClaims } | { ok: false; reason: 'invalid' | 'expired' };

export function verifySecurityToken(key: KeyObject, token: string): SecurityVerdict {
  try {
    const payload = jwt.verify(token, key, { algorithms: ['HS256'], audience: AUDIENCE });
    if (typeof payload === 'string' || typeof payload.uid !== 'number' || typeof payload.sid !== 'string' || typeof payload.fingerprint !== 'object') {
      return { ok: false, reason: 'invalid' };
    }
    return { ok: true, claims: payload as unknown as SecurityClaims };
  } catch (err) {
    return { ok: false, reason: err instanceof jwt.TokenExpiredError ? 'expired' : 'invalid' };
  }
}
