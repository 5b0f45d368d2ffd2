// Login throttling: failed logins counted per login and per client IP in the cache (Redis in real
// mode), so the limit holds across every instance on one Redis. A counter's window starts at its
// first failure (LOGIN_FAILURE_WINDOW); at LOGIN_MAX_FAILURES_PER_LOGIN / _PER_IP failures the next
// login is refused with 429 RATE_LIMITED and Retry-After, before the user lookup and the password
// hash, so a refusal costs two cache reads. A successful login clears its login's counter (not the
// IP's: one valid account must not reset an address that is guessing others). Keys hold hashes,
// never user input: `login-throttle:login:<sha256(lower-cased login)>`, `login-throttle:ip:<sha256(ip)>`.
// When the cache cannot answer, logins are not throttled (the password hash still bounds the rate)
// and a warning is logged.
import { createHash } from 'node:crypto';
import { RpcError } from '../errors.ts';
import type { CallContext } from '../rpc/context.ts';

const digest = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 32);

export const loginKey = (login: string): string => `login-throttle:login:${digest(login.toLowerCase())}`;
export const ipKey = (ip: string): string => `login-throttle:ip:${digest(ip)}`;

interface Limit {
  key: string;
  max: number;
  what: 'login' | 'ip';
}

function limitsOf(ctx: CallContext, login: string): Limit[] {
  const { maxFailuresPerLogin, maxFailuresPerIp } = ctx.services.config.loginThrottle;
  const limits: Limit[] = [];
  if (maxFailuresPerLogin > 0) limits.push({ key: loginKey(login), max: maxFailuresPerLogin, what: 'login' });
  if (maxFailuresPerIp > 0) limits.push({ key: ipKey(ctx.peer.ip), max: maxFailuresPerIp, what: 'ip' });
  return limits;
}

function cacheTrouble(ctx: CallContext, step: string, err: unknown): void {
  ctx.services.log.warn({ request_id: ctx.requestId, err: (err as Error).message, step }, '[LOGIN THROTTLE] cache unavailable: login not throttled');
}

/** Throws RATE_LIMITED when the login or the caller's IP has used up its failures. Call before any lookup or hash. */
export async function assertNotThrottled(ctx: CallContext, login: string): Promise<void> {
  const { cache, config, log } = ctx.services;
  const limits = limitsOf(ctx, login);
  if (!limits.length) return;
  let counts: (string | null)[];
  try {
    counts = await Promise.all(limits.map((l) => cache.get(l.key)));
  } catch (err) {
    return cacheTrouble(ctx, 'check', err);
  }
  const over = limits.filter((l, i) => Number(counts[i] ?? 0) >= l.max);
  if (!over.length) return;
  let retryAfter = 1;
  try {
    const ttls = await Promise.all(over.map((l) => cache.ttl(l.key)));
    retryAfter = Math.max(1, ...ttls.map((t) => (t > 0 ? t : config.loginThrottle.windowSeconds)));
  } catch {
    retryAfter = config.loginThrottle.windowSeconds;
  }
  const by = over.map((l) => l.what);
  ctx.record.reason = `throttled-${by.join('-')}`;
  log.warn(
    { request_id: ctx.requestId, method: ctx.record.method, client_id: ctx.record.clientId, ip: ctx.peer.ip, login_key: loginKey(login).slice(-8), by, retry_after: retryAfter, error_code: 'RATE_LIMITED', error: 'Too many requests' },
    '[LOGIN THROTTLED] too many failed logins',
  );
  throw new RpcError(
    'RATE_LIMITED',
    `Too many failed logins for this ${by.includes('login') ? 'login' : 'address'}: retry in ${retryAfter} s.`,
    { retry_after: retryAfter, throttled_by: by },
    { 'Retry-After': String(retryAfter) },
  );
}

/** Counts one failed login (wrong password or unknown user) against the login and the IP. */
export async function recordLoginFailure(ctx: CallContext, login: string): Promise<void> {
  const window = ctx.services.config.loginThrottle.windowSeconds;
  try {
    await Promise.all(limitsOf(ctx, login).map((l) => ctx.services.cache.hit(l.key, window)));
  } catch (err) {
    cacheTrouble(ctx, 'count', err);
  }
}

/** A successful login clears its login's counter. */
export async function recordLoginSuccess(ctx: CallContext, login: string): Promise<void> {
  if (ctx.services.config.loginThrottle.maxFailuresPerLogin === 0) return;
  try {
    await ctx.services.cache.del(loginKey(login));
  } catch (err) {
    cacheTrouble(ctx, 'reset', err);
  }
}
