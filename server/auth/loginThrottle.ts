// Login throttling: every password attempt takes a slot, atomically and before the password hash, on
// two counters in the cache (Redis in real mode, so the limit holds across every instance): the
// account's and the caller's IP's. A counter's window starts at its first attempt
// (LOGIN_FAILURE_WINDOW). An attempt whose slot is past LOGIN_MAX_FAILURES_PER_LOGIN / _PER_IP is
// refused with 429 RATE_LIMITED and Retry-After, without hashing; so at most that many guesses per
// window reach the hash, however many arrive at once (each INCR is one atomic step), and at most that
// many logins of one account can be in flight at once. A refused attempt gives its slots back. A success clears
// the account's counter if nobody took a slot after it (else it only gives its own slot back, so
// guesses that raced it stay counted), and gives its slot back to the IP's counter (one valid account
// must not reset an address that is guessing others, nor count against it).
// The account is the user id when the login names a user, else the login as PostgreSQL lowers it
// (the lookup's own rule, so no spelling gets a counter of its own). Keys hold hashes, never user
// input: `login-throttle:login:<sha256>`, `login-throttle:ip:<sha256(ip)>`. When the cache cannot
// answer, logins are not throttled (the password hash still bounds the rate) and a warning is logged.
import { createHash } from 'node:crypto';
import { RpcError } from '../errors.ts';
import type { CallContext } from '../rpc/context.ts';

const digest = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 32);

/** Who an attempt is against: a user, or (no such user) the login as PostgreSQL lowered it. */
export type Account = { userId: number } | { lowered: string };

export const loginKey = (account: Account): string => `login-throttle:login:${digest('userId' in account ? `user:${account.userId}` : `login:${account.lowered}`)}`;
export const ipKey = (ip: string): string => `login-throttle:ip:${digest(ip)}`;

export interface LoginSlot {
  /** The password was right: clear the account's counter, give the IP's slot back. */
  succeeded(): Promise<void>;
}

interface Limit {
  key: string;
  max: number;
  what: 'login' | 'ip';
}

function limitsOf(ctx: CallContext, account: Account): Limit[] {
  const { maxFailuresPerLogin, maxFailuresPerIp } = ctx.services.config.loginThrottle;
  const limits: Limit[] = [];
  if (maxFailuresPerLogin > 0) limits.push({ key: loginKey(account), max: maxFailuresPerLogin, what: 'login' });
  if (maxFailuresPerIp > 0) limits.push({ key: ipKey(ctx.peer.ip), max: maxFailuresPerIp, what: 'ip' });
  return limits;
}

function cacheTrouble(ctx: CallContext, step: string, err: unknown): void {
  ctx.services.log.warn({ request_id: ctx.requestId, err: (err as Error).message, step }, '[LOGIN THROTTLE] cache unavailable: login not throttled');
}

const UNTHROTTLED: LoginSlot = { succeeded: async () => {} };

/** Takes this attempt's slot; throws RATE_LIMITED when a limit is used up. Call before the password hash. */
export async function takeLoginSlot(ctx: CallContext, account: Account): Promise<LoginSlot> {
  const { cache, config, log } = ctx.services;
  const limits = limitsOf(ctx, account);
  if (!limits.length) return UNTHROTTLED;
  let counts: { count: number; ttl: number }[];
  try {
    counts = await Promise.all(limits.map((l) => cache.hit(l.key, config.loginThrottle.windowSeconds)));
  } catch (err) {
    cacheTrouble(ctx, 'count', err);
    return UNTHROTTLED;
  }
  const over = limits.filter((l, i) => counts[i].count > l.max);
  if (!over.length) {
    return {
      async succeeded() {
        try {
          await Promise.all(limits.map((l, i) => cache.unhit(l.key, l.what === 'login' ? counts[i].count : undefined)));
        } catch (err) {
          cacheTrouble(ctx, 'reset', err);
        }
      },
    };
  }
  // A refused attempt never reaches the hash: it gives back the slots it took, so it counts against
  // neither the account nor the address.
  await Promise.all(limits.map((l) => cache.unhit(l.key))).catch((err: unknown) => cacheTrouble(ctx, 'give back', err));
  const retryAfter = Math.max(1, ...limits.map((l, i) => (over.includes(l) ? (counts[i].ttl > 0 ? counts[i].ttl : config.loginThrottle.windowSeconds) : 1)));
  const by = over.map((l) => l.what);
  ctx.record.reason = `throttled-${by.join('-')}`;
  ctx.services.events.recorder.record({
    type: 'login.throttled',
    at: new Date(),
    user_id: 'userId' in account ? account.userId : null,
    client_id: ctx.record.clientId ?? null,
    session_prefix: ctx.record.sessionPrefix ?? null,
    reason: by.join(','),
    session_row: null,
  });
  log.warn(
    { request_id: ctx.requestId, method: ctx.record.method, client_id: ctx.record.clientId, ip: ctx.peer.ip, login_key: loginKey(account).slice(-8), by, retry_after: retryAfter, error_code: 'RATE_LIMITED', error: 'Too many requests' },
    '[LOGIN THROTTLED] too many failed logins',
  );
  throw new RpcError(
    'RATE_LIMITED',
    `Too many failed logins for this ${by.includes('login') ? 'login' : 'address'}: retry in ${retryAfter} s.`,
    { retry_after: retryAfter, throttled_by: by },
    { 'Retry-After': String(retryAfter) },
  );
}
