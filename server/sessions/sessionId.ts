// Session ids: 60 CSPRNG bytes as base64url (80 characters). Only their SHA-256 is stored, and only
// their first 8 characters are ever logged.
import { hash, randomBytes } from 'node:crypto';

const WELL_FORMED = /^[A-Za-z0-9_-]{60,100}$/;

/**
 * A new id whose first character is a letter or digit: base64url begins one id in 32 with '-' or '_',
 * and one beginning with '-' reads as an option to a command line (`tether sessions doctor <id>`).
 * Drawing again costs 1/32 of a draw on average and leaves 479 random bits; isWellFormed still
 * accepts any id of the alphabet.
 */
export function newSessionId(): string {
  for (;;) {
    const id = randomBytes(60).toString('base64url');
    if (/^[A-Za-z0-9]/.test(id)) return id;
  }
}
// crypto.hash: the one-shot form, without a Hash object per call (a validated call hashes its session id).
export const hashOf = (sessionId: string): string => hash('sha256', sessionId, 'hex');
export const isWellFormed = (value: unknown): value is string => typeof value === 'string' && WELL_FORMED.test(value);
/** What a log line or an error may show of a session id. */
export const prefixOf = (sessionId: string): string => sessionId.slice(0, 8);
/** What the audit log keeps: enough to find the api_sessions row, too little to use. */
export const hashPrefixOf = (hash: string): string => hash.slice(0, 16);
export const SESSION_PREFIX = 'session:';
export const cacheKeyOf = (hash: string): string => `${SESSION_PREFIX}${hash}`;
