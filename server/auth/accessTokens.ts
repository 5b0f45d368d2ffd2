// Application bearer tokens: HS256 JWTs issued by the client-credentials grant, revocable by jti.
import jwt from 'jsonwebtoken';
import { randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { verifiedTokens } from './verifiedTokens.ts';

const AUDIENCE = 'tether:access';
const ISSUER = 'tether';

export interface AccessClaims {
  clientId: string;
  jti: string;
  scopes: string[];
  exp: number;
}

export function signAccessToken(key: KeyObject, clientId: string, scopes: string[], ttlSeconds: number): { token: string; jti: string } {
  const jti = randomBytes(16).toString('base64url');
  const token = jwt.sign({ scope: scopes.join(' ') }, key, { algorithm: 'HS256', expiresIn: ttlSeconds, audience: AUDIENCE, issuer: ISSUER, subject: clientId, jwtid: jti });
  return { token, jti };
}

export type AccessVerdict = { ok: true; claims: AccessClaims } | { ok: false; reason: 'invalid' | 'expired' };

type Accepted = Extract<AccessVerdict, { ok: true }>;

/** Bearer tokens verified once (server/auth/verifiedTokens.ts): a hot client pays a map lookup. */
export const verifiedAccessTokens = verifiedTokens<Accepted>();

export function verifyAccessToken(key: KeyObject, token: string): AccessVerdict {
  const known = verifiedAccessTokens.recall(key, token);
  if (known === 'expired') return { ok: false, reason: 'expired' };
  if (known) return known;
  const verdict = verifyInFull(key, token);
  if (verdict.ok) verifiedAccessTokens.remember(key, token, verdict, verdict.claims.exp);
  return verdict;
}

function verifyInFull(key: KeyObject, token: string): AccessVerdict {
  try {
    const payload = jwt.verify(token, key, { algorithms: ['HS256'], audience: AUDIENCE, issuer: ISSUER });
    if (typeof payload === 'string' || !payload.sub || !payload.jti || typeof payload.exp !== 'number') return { ok: false, reason: 'invalid' };
    const scope = typeof payload.scope === 'string' ? payload.scope : '';
    // Frozen: the same verdict is handed to every later call with this token.
    const claims: AccessClaims = { clientId: payload.sub, jti: payload.jti, scopes: Object.freeze(scope.split(' ').filter(Boolean)) as string[], exp: payload.exp };
    return Object.freeze({ ok: true as const, claims: Object.freeze(claims) });
  } catch (err) {
    return { ok: false, reason: err instanceof jwt.TokenExpiredError ? 'expired' : 'invalid' };
  }
}
