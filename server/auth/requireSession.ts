// requireSession: the user session bound to the client that opened it. Steps, in order, each with its
// catalogue error and one log line: find the id, format, lookup (cache, then PostgreSQL), security
// token present, verifies, not expired, uid matches, fingerprint and OAuth client match.
import { CATALOGUE, RpcError } from '../errors.ts';
import type { CallContext } from '../rpc/context.ts';
import type { Handler } from '../rpc/method.ts';
import type { JwtContext } from './requireJwt.ts';
import { hashOf, hashPrefixOf, isWellFormed, prefixOf } from '../sessions/sessionId.ts';
import { fingerprintMismatch, fingerprintOf } from '../sessions/fingerprint.ts';
import { verifySecurityToken } from '../sessions/securityToken.ts';
import type { Found } from '../sessions/sessionService.ts';
import type { PublicUser } from '../stores/userStore.ts';

export interface SessionInfo extends Found {
  /** First 8 characters of the session id: all a log or an answer may show. */
  prefix: string;
}

export interface SessionContext extends JwtContext {
  user: PublicUser;
  session: SessionInfo;
}

/** params.session_id, else the X-Openerp-Session-Id header, else the session_id cookie. Never the URL. */
export function sessionIdOf(ctx: CallContext): { value: unknown; from: 'params' | 'header' | 'cookie' } | undefined {
  const params = ctx.rawParams;
  if (params && typeof params === 'object' && !Array.isArray(params) && Object.hasOwn(params, 'session_id')) {
    return { value: (params as Record<string, unknown>).session_id, from: 'params' };
  }
  const header = ctx.headers['x-openerp-session-id'];
  if (header !== undefined) return { value: header, from: 'header' };
  const cookie = ctx.cookie('session_id');
  if (cookie !== undefined) return { value: cookie, from: 'cookie' };
  return undefined;
}

function fail(ctx: CallContext, code: ConstructorParameters<typeof RpcError>[0], marker: string, facts: Record<string, unknown>, detail?: string, extra?: Record<string, unknown>): never {
  // The catalogue text is in the line too: operators grep for "Session expired", "Invalid session_id format".
  const component = /HIJACKING DETECTED - (.+) MISMATCH/.exec(marker)?.[1];
  ctx.record.reason = component ? component.toLowerCase().replace(' ', '-') : typeof facts.reason === 'string' ? facts.reason : undefined;
  ctx.services.log.warn({ request_id: ctx.requestId, method: ctx.record.method, user_id: ctx.record.userId, session: ctx.record.sessionPrefix, error_code: code, error: CATALOGUE[code].message, ...facts }, marker);
  throw new RpcError(code, detail, extra);
}

async function lookup(ctx: JwtContext, hash: string): Promise<Found> {
  try {
    return await ctx.services.sessions.find(hash, ctx.prefetched?.hash === hash ? ctx.prefetched : undefined);
  } catch (err) {
    if (err instanceof RpcError && err.errorCode !== 'STORAGE_UNAVAILABLE') {
      const reason = err.extra?.reason;
      fail(ctx, err.errorCode, err.errorCode === 'SESSION_EXPIRED' ? `[SESSION EXPIRED] session ${ctx.record.sessionPrefix}... ${reason}` : `[SESSION REQUIRED] session ${ctx.record.sessionPrefix}... ${reason}`, { reason }, err.detail, err.extra);
    }
    throw err;
  }
}

function checkSecurityToken(ctx: JwtContext, found: Found): void {
  const { entry } = found;
  const prefix = ctx.record.sessionPrefix;
  if (!entry.tok) fail(ctx, 'SESSION_TOKEN_REQUIRED', `[SESSION SECURITY] No JWT token found for session ${prefix}... user_id=${entry.uid}`, {}, 'This session has no security token: log out and log in again.');
  const verdict = verifySecurityToken(ctx.services.keys.session, entry.tok);
  if (!verdict.ok && verdict.reason === 'invalid') fail(ctx, 'SESSION_TOKEN_INVALID', `[SESSION SECURITY] Invalid JWT token for session ${prefix}...`, {}, 'The session security token failed verification: log in again.');
  if (!verdict.ok) {
    // Past its absolute lifetime: end it now, so the row and the statistics say so too.
    ctx.services.sessions.end(found.hash, 'absolute').catch(() => {});
    fail(ctx, 'SESSION_EXPIRED', `[SESSION EXPIRED] JWT token expired for session ${prefix}...`, { reason: 'absolute' }, 'The session reached its absolute lifetime: log in again.', {
      reason: 'absolute',
      session_timeout: ctx.services.config.sessionAbsoluteTimeout,
    });
  }
  // The absolute end from the row too (expires_at, in the entry), not only from the token's exp: a
  // lifetime shortened in PostgreSQL holds, and so would one whose token check were ever lost.
  if (Math.floor(Date.now() / 1000) >= entry.abs) {
    ctx.services.sessions.end(found.hash, 'absolute').catch(() => {});
    fail(ctx, 'SESSION_EXPIRED', `[SESSION EXPIRED] absolute end of session ${prefix}... reached (expires_at)`, { reason: 'absolute' }, 'The session reached its absolute lifetime: log in again.', {
      reason: 'absolute',
      session_timeout: ctx.services.config.sessionAbsoluteTimeout,
    });
  }
  const claims = verdict.claims;
  if (claims.sid !== found.hash) fail(ctx, 'SESSION_TOKEN_INVALID', `[SESSION SECURITY] Token belongs to another session ${prefix}...`, {}, 'The session security token does not belong to this session: log in again.');
  if (claims.uid !== entry.uid) fail(ctx, 'SESSION_INVALID', '[SESSION HIJACKING DETECTED - UID MISMATCH]', { token_uid: claims.uid }, 'Session validation failed: log in again.');

  const mismatch = fingerprintMismatch(claims.fingerprint, fingerprintOf(ctx.peer), ctx.services.config.fingerprint);
  if (mismatch) {
    const login = claims.fingerprint;
    const facts =
      mismatch === 'USER-AGENT' ? { token_ua: login.ua.slice(0, 300), current_ua: ctx.peer.userAgent.slice(0, 300) }
      : mismatch === 'IP' ? { token_ip: login.ip, current_ip: ctx.peer.ip }
      : mismatch === 'LANGUAGE' ? { token_lang: login.lang.slice(0, 100), current_lang: ctx.peer.acceptLanguage.slice(0, 100) }
      : {};
    fail(ctx, 'SESSION_INVALID', `[SESSION HIJACKING DETECTED - ${mismatch} MISMATCH]`, facts, `Session fingerprint mismatch (${mismatch.toLowerCase()}): send the same ${hint(mismatch)} as at login, or log in again.`);
  }
  if (claims.cid !== ctx.client.id || entry.cid !== ctx.client.id) {
    fail(ctx, 'SESSION_INVALID', '[SESSION HIJACKING DETECTED - CLIENT MISMATCH]', { session_client: entry.cid }, 'This session was opened by another OAuth client: use that client\'s bearer token, or log in again.');
  }
}

/** A hijack refusal (fingerprint, uid or client mismatch) is a session event; queued, never on the call's path. */
function refusedEvent(ctx: JwtContext, found: Found): void {
  ctx.services.events.recorder.record({
    type: 'session.refused',
    at: new Date(),
    user_id: found.entry.uid,
    client_id: ctx.client.id,
    session_prefix: ctx.record.sessionPrefix ?? null,
    reason: ctx.record.reason ?? null,
    session_row: found.entry.id,
  });
}

const hint = (m: string) =>
  m === 'USER-AGENT' ? 'User-Agent header' : m === 'IP' ? 'network address' : m === 'LANGUAGE' ? 'Accept-Language header' : 'X-Client-Fingerprint header';

/** The user as the call sees it: the entry's names, the live admin flag. */
export const userOf = (found: Found): PublicUser => ({ id: found.entry.uid, login: found.entry.login, name: found.entry.name, is_admin: found.user.admin });

export const requireSession =
  <P, R>(inner: Handler<P, R, SessionContext>): Handler<P, R, JwtContext> =>
  async (params, ctx) => {
    const given = sessionIdOf(ctx);
    if (!given) fail(ctx, 'SESSION_REQUIRED', '[SESSION REQUIRED] no session_id', {}, 'Send session_id in params, the X-Openerp-Session-Id header or the session_id cookie.');
    if (!isWellFormed(given.value)) {
      const length = typeof given.value === 'string' ? given.value.length : 0;
      fail(ctx, 'SESSION_ID_FORMAT', '[SESSION FORMAT] invalid session_id format', { from: given.from, length }, `session_id from ${given.from} has ${length} characters; expected 60-100 of A-Z a-z 0-9 _ - (use result.session_id from users.login, not the access token).`);
    }
    const sessionId = given.value;
    ctx.record.sessionPrefix = prefixOf(sessionId);
    // requireJwt hashed the same session_id for its cache round trip.
    const hash = ctx.prefetched?.hash ?? hashOf(sessionId);
    ctx.record.sessionHashPrefix = hashPrefixOf(hash);
    const found = await lookup(ctx, hash);
    ctx.record.userId = found.entry.uid;
    if (!found.user.active) {
      // Disabling a user ends their sessions; this refuses any call that raced that end.
      fail(ctx, 'SESSION_REQUIRED', `[SESSION REQUIRED] session ${ctx.record.sessionPrefix}... user_disabled`, { reason: 'user_disabled' }, 'This user is disabled: ask an administrator.', { reason: 'user_disabled' });
    }
    // A refusal here undoes the lookup's slide (requireJwt does it for every refusal before the handler).
    try {
      checkSecurityToken(ctx, found);
    } catch (err) {
      if (err instanceof RpcError && err.errorCode === 'SESSION_INVALID') refusedEvent(ctx, found);
      throw err;
    }
    // No keep-alive here: the scope and admin checks come after; decoratorsFor makes it once the handler is reached.
    // Field by field, not `{ ...found, prefix }`: the spread's copy reached V8's old generation on
    // nearly every call (the sampling heap profiler, objects that outlived the young collections: a third
    // of all promoted bytes), and the promoted garbage brought a full collection every few seconds.
    const session: SessionInfo = { hash: found.hash, entry: found.entry, user: found.user, restored: found.restored, prefix: prefixOf(sessionId) };
    return inner(params, Object.assign(ctx, { user: userOf(found), session }));
  };
