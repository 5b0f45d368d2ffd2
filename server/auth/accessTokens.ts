// Application bearer tokens: HS256 JWTs issued by the client-credentials grant, revocable by jti.
import jwt from 'jsonwebtoken';
import { randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

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

export function verifyAccessToken(key: KeyObject, token: string): AccessVerdict {
  try {
    const payload = jwt.verify(token, key, { algorithms: ['HS256'], audience: AUDIENCE, issuer: ISSUER });
    if (typeof payload === 'string' || !payload.sub || !payload.jti || typeof payload.exp !== 'number') return { ok: false, reason: 'invalid' };
    const scope = typeof payload.scope === 'string' ? payload.scope : '';
    return { ok: true, claims: { clientId: payload.sub, jti: payload.jti, scopes: scope.split(' ').filter(Boolean), exp: payload.exp } };
  } catch (err) {
    return { ok: false, reason: err instanceof jwt.TokenExpiredError ? 'expired' : 'invalid' };
  }
}
