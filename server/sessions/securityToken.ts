// A session's security token: an HS256 JWT that binds the session (by hash) to its user, its OAuth
// client and the fingerprint taken at login; exp is the session's absolute end.
import jwt from 'jsonwebtoken';
import type { KeyObject } from 'node:crypto';
import type { Fingerprint } from './fingerprint.ts';
import { verifiedTokens } from '../auth/verifiedTokens.ts';

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

type Accepted = Extract<SecurityVerdict, { ok: true }>;

/** Security tokens verified once (server/auth/verifiedTokens.ts): a hot session pays a map lookup. */
export const verifiedSecurityTokens = verifiedTokens<Accepted>();

export function verifySecurityToken(key: KeyObject, token: string): SecurityVerdict {
  const known = verifiedSecurityTokens.recall(key, token);
  if (known === 'expired') return { ok: false, reason: 'expired' };
  if (known) return known;
  const verdict = verifyInFull(key, token);
  if (verdict.ok) verifiedSecurityTokens.remember(key, token, verdict, verdict.claims.exp);
  return verdict;
}

function verifyInFull(key: KeyObject, token: string): SecurityVerdict {
  try {
    const payload = jwt.verify(token, key, { algorithms: ['HS256'], audience: AUDIENCE });
    if (typeof payload === 'string' || typeof payload.uid !== 'number' || typeof payload.sid !== 'string' || typeof payload.fingerprint !== 'object') {
      return { ok: false, reason: 'invalid' };
    }
    // Frozen: the same verdict is handed to every later call with this token.
    Object.freeze(payload.fingerprint);
    return Object.freeze({ ok: true as const, claims: Object.freeze(payload) as unknown as SecurityClaims });
  } catch (err) {
    return { ok: false, reason: err instanceof jwt.TokenExpiredError ? 'expired' : 'invalid' };
  }
}
