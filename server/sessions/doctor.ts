// `tether sessions doctor`: walks the troubleshooting guide's checks for one session, in the order
// requireSession applies them, and says what the server would answer, which issue of the guide that
// is, and what to do. It reads the stores only: it never slides a TTL or ends a session.
import { isTombstone, STALE, tombstoneReason } from '../cache/cache.ts';
import { CATALOGUE, type ErrorCode } from '../errors.ts';
import type { Services } from '../services.ts';
import { cacheKeyOf, hashOf, isWellFormed, prefixOf } from './sessionId.ts';
import { fingerprintMismatch, type Fingerprint, type Mismatch } from './fingerprint.ts';
import { verifySecurityToken } from './securityToken.ts';
import { entryOf, parseEntry, type SessionEntry } from './sessionService.ts';

export interface DoctorRequest {
  sessionId: string;
  /** The headers of the failing request, when known: each given component is compared. */
  ua?: string;
  ip?: string;
  lang?: string;
  clientFingerprint?: string;
}

export interface Step {
  check: string;
  result: 'pass' | 'fail' | 'warn' | 'skip';
  detail: string;
}

export interface Diagnosis {
  session: string;
  steps: Step[];
  verdict: {
    valid: boolean;
    /** The catalogue message the server would answer (absent when valid). */
    message?: string;
    error_code?: ErrorCode;
    /** The troubleshooting guide's issue number. */
    guide_issue?: number;
    remedy: string;
  };
}

const MISMATCH: Record<Mismatch, { issue: number; remedy: string }> = {
  'USER-AGENT': { issue: 2, remedy: 'Send the same User-Agent on every request as at login (or set FINGERPRINT_UA=major to tolerate browser updates), then log in again.' },
  IP: { issue: 6, remedy: 'The client moved network: log in again from the new address, or set FINGERPRINT_IP=subnet (or off) or TRUSTED_PROXIES if a proxy hides the client.' },
  LANGUAGE: { issue: 7, remedy: 'Send the same Accept-Language on every request as at login, then log in again.' },
  'CLIENT FINGERPRINT': { issue: 2, remedy: 'Send the same X-Client-Fingerprint on every request as at login, then log in again.' },
};

const iso = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString();

export async function diagnose(services: Services, request: DoctorRequest): Promise<Diagnosis> {
  const steps: Step[] = [];
  const step = (check: string, result: Step['result'], detail: string) => steps.push({ check, result, detail });
  const session = typeof request.sessionId === 'string' ? `${prefixOf(request.sessionId)}...` : '(none)';
  const refuse = (code: ErrorCode, issue: number, remedy: string): Diagnosis => ({
    session,
    steps,
    verdict: { valid: false, message: CATALOGUE[code].message, error_code: code, guide_issue: issue, remedy },
  });
  const { config } = services;
  const idle = config.sessionIdleTimeout;
  const now = Math.floor(Date.now() / 1000);

  // 1. Format (guide issue #4).
  const id = request.sessionId;
  if (!isWellFormed(id)) {
    const length = String(id ?? '').length;
    step('format', 'fail', `${length} characters; expected 60-100 of A-Z a-z 0-9 _ -`);
    return refuse('SESSION_ID_FORMAT', 4, 'Send result.session_id from users.login, whole and unquoted (80 characters), not the access token.');
  }
  step('format', 'pass', `${id.length} characters of [A-Za-z0-9_-]`);
  const hash = hashOf(id);

  // 2. The cache entry and its TTL (guide issue #3, step 1).
  let entry: SessionEntry | undefined;
  try {
    const raw = await services.cache.get(cacheKeyOf(hash));
    const ttl = await services.cache.ttl(cacheKeyOf(hash));
    if (raw !== null && isTombstone(raw)) {
      step('cache entry', 'pass', `ended (${tombstoneReason(raw)}): a tombstone refuses every call (${services.cache.kind}), ${ttl} s left`);
    } else if (raw?.startsWith(STALE)) {
      step('cache entry', 'warn', `marked stale by the change log (${services.cache.kind}): the next call reads the row from PostgreSQL`);
    } else if (raw) {
      entry = parseEntry(raw);
      if (entry) step('cache entry', 'pass', `present (${services.cache.kind}), ${ttl} s of idle time left`);
      else step('cache entry', 'warn', `unreadable (${services.cache.kind}): the next call reads PostgreSQL and replaces it ([CACHE CORRUPT])`);
    } else {
      step('cache entry', 'warn', `absent (${services.cache.kind}): the next call restores it from PostgreSQL if the row allows`);
    }
  } catch (err) {
    step('cache entry', 'warn', `the cache did not answer (${(err as Error).message}): the server falls back to PostgreSQL`);
  }

  // 3. The PostgreSQL row (guide issues #1 and #8; #3 step 2).
  const row = await services.sessionRows.findByHash(hash);
  if (!row) {
    step('database row', 'fail', 'no api_sessions row for this session_id');
    if (!entry) return refuse('SESSION_REQUIRED', 1, 'This session_id was never issued here (or was deleted by retention): log in again and use the new session_id.');
  } else {
    const state = row.is_active ? 'active' : `ended (${row.end_reason ?? 'unknown'}) at ${(row.ended_at ?? row.logout_at)?.toISOString() ?? 'unknown time'}`;
    const detail = `${state}; user ${row.user_id} (${row.login}${row.user_active ? '' : ', disabled'}); login ${row.login_at.toISOString()}; last activity ${row.last_activity.toISOString()}; logout ${row.logout_at?.toISOString() ?? 'none'}`;
    // PostgreSQL is the truth: an ended row refuses the session whatever the cache still holds (the
    // change log brings every cache to it, and a cache behind the log answers nothing).
    if (row.is_active && row.user_active) step('database row', 'pass', detail);
    else {
      step('database row', 'fail', detail);
      if (row.end_reason === 'logout') return refuse('SESSION_REQUIRED', 8, 'The session was logged out: log in again and stop using the old session_id.');
      if (row.end_reason === 'idle' || row.end_reason === 'absolute') {
        return refuse('SESSION_EXPIRED', 3, row.end_reason === 'idle' ? `Idle for more than ${idle} s: log in again, and call sessions.refresh (or any method) more often than that.` : 'The session reached its absolute lifetime: log in again.');
      }
      return refuse('SESSION_REQUIRED', 1, `The session was ended (${row.end_reason ?? (row.user_active ? 'inactive' : 'user disabled')}): log in again.`);
    }
  }
  const source: SessionEntry | undefined = entry ?? (row && entryOf(row));
  if (!source) return refuse('SESSION_REQUIRED', 1, 'Log in again.');

  // 4. Idle time: the cache TTL decides when cached; PostgreSQL's last_activity otherwise.
  if (entry) step('idle timeout', 'pass', `the cache entry is alive, so the session is within ${idle} s of inactivity`);
  else {
    const idleFor = now - source.la;
    if (idleFor > idle) {
      step('idle timeout', 'fail', `idle ${idleFor} s in PostgreSQL's view; the limit is ${idle} s`);
      return refuse('SESSION_EXPIRED', 3, `Idle for more than ${idle} s: log in again, and keep the session alive with sessions.refresh.`);
    }
    step('idle timeout', 'pass', `idle ${idleFor} s of ${idle} s`);
  }

  // 5. Absolute lifetime.
  if (source.abs <= now) {
    step('absolute lifetime', 'fail', `ended at ${iso(source.abs)}`);
    return refuse('SESSION_EXPIRED', 3, 'The session reached its absolute lifetime (SESSION_ABSOLUTE_TIMEOUT): log in again.');
  }
  step('absolute lifetime', 'pass', `until ${iso(source.abs)}`);

  // 6-8. The security token: present, valid, not expired (guide issue #5, #3 scenario B).
  if (!source.tok) {
    step('security token', 'fail', 'absent from the session record');
    return refuse('SESSION_TOKEN_REQUIRED', 5, 'The record has no security token (corruption or a migration): log out and log in again.');
  }
  const verdict = verifySecurityToken(services.keys.session, source.tok);
  if (!verdict.ok) {
    step('security token', 'fail', verdict.reason === 'expired' ? 'expired (past exp)' : 'fails verification (signed with another JWT_SECRET, or altered)');
    return verdict.reason === 'expired'
      ? refuse('SESSION_EXPIRED', 3, 'The session reached its absolute lifetime: log in again.')
      : refuse('SESSION_TOKEN_INVALID', 5, 'Log in again; if every session fails this way, JWT_SECRET changed since they were opened.');
  }
  step('security token', 'pass', `valid until ${iso(verdict.claims.exp)}`);
  if (verdict.claims.sid !== hash) {
    step('token session', 'fail', 'the token belongs to another session');
    return refuse('SESSION_TOKEN_INVALID', 5, 'The record holds another session\'s token: log in again.');
  }
  if (verdict.claims.uid !== source.uid) {
    step('uid', 'fail', `token uid ${verdict.claims.uid}, session user ${source.uid}`);
    return refuse('SESSION_INVALID', 2, 'The token and the session disagree on the user (UID MISMATCH): end the session and log in again.');
  }
  step('uid', 'pass', `user ${source.uid}`);

  // 9. Fingerprint, one component at a time, for the components the operator gave.
  const atLogin: Fingerprint = verdict.claims.fingerprint;
  const given: [keyof Fingerprint, string | undefined, string][] = [
    ['ua', request.ua, 'user agent'],
    ['ip', request.ip, 'ip'],
    ['lang', request.lang, 'language'],
    ['client', request.clientFingerprint, 'client fingerprint'],
  ];
  for (const [component, value, label] of given) {
    if (value === undefined) {
      step(label, 'skip', `not given (login value: ${JSON.stringify((atLogin[component] ?? '(none)').slice(0, 200))})`);
      continue;
    }
    const mismatch = fingerprintMismatch(atLogin, { ...atLogin, [component]: value }, config.fingerprint);
    if (mismatch) {
      // An empty login value: the login sent no such header, so only a request without it matches.
      const atLoginText = atLogin[component] ? JSON.stringify(atLogin[component].slice(0, 200)) : `sent none (give ${component === 'lang' ? '--lang ""' : 'an empty value'} for a request without it)`;
      step(label, 'fail', `login ${atLoginText}, request ${JSON.stringify(value.slice(0, 200))}`);
      return refuse('SESSION_INVALID', MISMATCH[mismatch].issue, MISMATCH[mismatch].remedy);
    }
    step(label, 'pass', 'matches the login under the configured policy');
  }
  step('client', 'skip', `bound to OAuth client ${source.cid}: requests must carry a bearer token of that client`);
  return { session, steps, verdict: { valid: true, remedy: 'The server accepts this session for a request with these headers and a bearer token of its client.' } };
}
