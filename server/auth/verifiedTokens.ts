// JWTs verified once: a token that passed verification is remembered by its exact text, under the key
// that verified it, until its exp, so a hot client pays a map lookup instead of an HMAC and a JSON
// parse on every call. Only successes are remembered: a forged or tampered token is a different text,
// misses, and is verified (and refused) in full every time, so an attacker cannot place anything in
// the map without a token this service signed. The map is bounded (the oldest entry goes first), so
// a flood of valid tokens costs a fixed amount of memory and only evicts, never grows; while it only
// evicts, it keeps one new token in 16 (server/memoAdmission.ts says why).
import type { KeyObject } from 'node:crypto';
import { memoAdmission } from '../memoAdmission.ts';

/**
 * As many as the busy sessions whose entries are kept decoded (sessionService.ts): ~1 KB each, and the
 * live heap is what V8 grows the old generation from.
 */
export const REMEMBERED_TOKENS_MAX = 2_000;

interface Entry<C> {
  /** What the verification answered (the caller's verdict object, handed back as is). */
  value: C;
  /** Seconds since the epoch, as the token's exp claim. */
  exp: number;
}

export interface VerifiedTokens<C> {
  /** What a token verified earlier answered while before its exp; 'expired' once past it (then forgotten); undefined if unknown. */
  recall(key: KeyObject, token: string): C | 'expired' | undefined;
  remember(key: KeyObject, token: string, value: C, exp: number): void;
  /** Entries held under this key (diagnostics and tests). */
  size(key: KeyObject): number;
}

/** jsonwebtoken's rule: a token is expired once the clock in whole seconds reaches exp. */
const nowSeconds = () => Math.floor(Date.now() / 1000);

export function verifiedTokens<C>(max = REMEMBERED_TOKENS_MAX): VerifiedTokens<C> {
  // One map per key: a token verified under one key never passes under another.
  const byKey = new WeakMap<KeyObject, Map<string, Entry<C>>>();
  const admission = memoAdmission();
  const mapOf = (key: KeyObject) => {
    let map = byKey.get(key);
    if (!map) byKey.set(key, (map = new Map()));
    return map;
  };
  return {
    recall(key, token) {
      const map = byKey.get(key);
      const entry = map?.get(token);
      if (!entry) return undefined;
      if (nowSeconds() >= entry.exp) {
        map!.delete(token);
        return 'expired';
      }
      admission.hit();
      return entry.value;
    },
    remember(key, token, value, exp) {
      if (!Number.isFinite(exp)) return; // no exp, no end to remembering it: verify it each time
      const map = mapOf(key);
      if (!map.has(token)) {
        const full = map.size >= max;
        if (!admission.miss(full)) return;
        // A Map iterates in insertion order: the first key is the oldest.
        if (full) map.delete(map.keys().next().value as string);
      }
      map.set(token, { value, exp });
    },
    size: (key) => byKey.get(key)?.size ?? 0,
  };
}
