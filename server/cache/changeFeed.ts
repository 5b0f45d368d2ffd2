// The change feed: how an instance with an in-process cache learns of what other processes changed
// (the CLI, another instance). Triggers (sql/004) send every session end, user state, client state
// and token revocation with pg_notify on one channel, in the transaction that makes the change, so
// no writer can forget it; each such instance applies them to its cache with the same writers a local
// change uses (stateCache.ts). On a shared Redis nobody needs the feed: the writer wrote Redis itself.
// A notification arrives within milliseconds of the commit; a call that reaches this instance inside
// that window still sees the old state (documented in the README).
import type { Logger } from 'pino';
import type { StateCache } from './stateCache.ts';

export const CHANNEL = 'tether_changes';

export type Change =
  | { t: 'session'; hash: string; reason: string }
  | { t: 'user'; id: number; active: boolean; admin: boolean }
  | { t: 'client'; id: string; active: boolean; scopes: string[] }
  | { t: 'token'; jti: string; exp: number };

export function applyChange(state: StateCache, log: Logger, payload: string): Promise<void> {
  let change: Change;
  try {
    change = JSON.parse(payload) as Change;
  } catch {
    log.warn({ length: payload.length }, '[CHANGE FEED] unreadable notification ignored');
    return Promise.resolve();
  }
  switch (change.t) {
    case 'session':
      return state.sessionsEnded([change.hash], change.reason);
    case 'user':
      return state.user(Number(change.id), { active: change.active, admin: change.admin });
    case 'client':
      return state.client(change.id, { active: change.active, scopes: change.scopes ?? [] });
    case 'token':
      return state.token(change.jti, 'revoked', Math.floor(Number(change.exp)));
    default:
      return Promise.resolve();
  }
}
