// A user's own account: users.change_password and sessions.reauthenticate. Both check the password
// like a login (same throttle counters, keyed by the user's login, so a stolen session cannot guess
// the password faster than a login could) and both answer a new session id: an id is renewed
// whenever its authentication changes.
import { Type } from '@sinclair/typebox';
import { defineMethod } from '../server/rpc/method.ts';
import { RpcError } from '../server/errors.ts';
import { hashPassword, normalisedPassword, verifyPassword } from '../server/auth/passwords.ts';
import { assertAcceptablePassword, PASSWORD_POLICY } from '../server/auth/passwordPolicy.ts';
import { takeLoginSlot } from '../server/auth/loginThrottle.ts';
import { publicUser, type UserRow } from '../server/stores/userStore.ts';
import { prefixOf } from '../server/sessions/sessionId.ts';
import type { SessionContext } from '../server/auth/requireSession.ts';
import { fromStore } from './support/storage.ts';

const DateTime = Type.String({ format: 'date-time' });
const User = Type.Object({ id: Type.Integer(), login: Type.String(), name: Type.String(), is_admin: Type.Boolean() });
const RenewedSession = {
  session_id: Type.String({ minLength: 80, maxLength: 80, description: 'the new session id: the one sent with this call is ended' }),
  user: User,
  expires_at: DateTime,
  absolute_expires_at: DateTime,
  idle_timeout: Type.Integer(),
};

/** The caller's password, checked like a login: a slot on the account's counter first (shared with its logins). Answers the user's row. */
async function proveOwnPassword(ctx: SessionContext, password: string, field: string): Promise<UserRow> {
  const { users, log } = ctx.services;
  const slot = await takeLoginSlot(ctx, { userId: ctx.user.id });
  const user = await fromStore(users.findById(ctx.user.id), 'user store');
  if (!(await verifyPassword(user?.password_hash, password)) || !user) {
    log.warn({ request_id: ctx.requestId, method: ctx.record.method, user_id: ctx.user.id, session: ctx.session.prefix, field }, '[PASSWORD PROOF FAILED] wrong password');
    throw new RpcError('AUTHENTICATION_FAILED', `${field} is wrong.`, { field });
  }
  if (!user.is_active) throw new RpcError('USER_INACTIVE', 'This user is disabled: ask an administrator.');
  await slot.succeeded();
  return user;
}

/**
 * A new session for the same user, OAuth client and fingerprint; its login time is the password proof.
 * It opens only while `passwordHash` is still the user's (checked under the lock that opens it).
 */
async function openFor(ctx: SessionContext, user: UserRow, passwordHash: string) {
  const opened = await ctx.services.sessions.open(publicUser(user), ctx.client.id, ctx.peer, passwordHash);
  return {
    opened,
    result: {
      session_id: opened.sessionId,
      user: publicUser(user),
      expires_at: opened.expiresAt.toISOString(),
      absolute_expires_at: opened.absoluteExpiresAt.toISOString(),
      idle_timeout: ctx.services.sessions.idleTimeout,
    },
  };
}

export const changePassword = defineMethod({
  name: 'users.change_password',
  summary: "Changes the caller's password, ends every session of the user and answers a new session id for the caller.",
  params: Type.Object(
    {
      current_password: Type.String({ minLength: 1, maxLength: 1024 }),
      new_password: Type.String({ minLength: 1, maxLength: 1024, description: PASSWORD_POLICY }),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ ...RenewedSession, sessions_ended: Type.Integer({ description: 'the other sessions ended (the caller\'s old one not counted)' }) }),
  requires: { session: true },
  async handler(params, ctx) {
    // Before the throttle and the hash: a refused new password costs nothing and counts as no failure.
    await assertAcceptablePassword(params.new_password, 'new_password');
    const user = await proveOwnPassword(ctx, params.current_password, 'current_password');
    if (normalisedPassword(params.new_password) === normalisedPassword(params.current_password)) {
      throw new RpcError('INVALID_PARAMS', 'new_password: must differ from current_password', { field: 'new_password', rule: 'unchanged' });
    }
    const { users, sessions, log } = ctx.services;
    // Compare-and-set on the hash just verified: of two changes made with the same current password, one wins.
    const newHash = await hashPassword(params.new_password);
    const changed = await fromStore(users.setPasswordHash(user.id, newHash, user.password_hash), 'user store');
    if (!changed) throw new RpcError('AUTHENTICATION_FAILED', 'current_password is no longer the current password: it was changed meanwhile.', { field: 'current_password' });
    // Every session ends, the caller's too (whoever else held one knew or stole the old password);
    // then the caller gets a new one.
    const ended = await sessions.endAllOfUser(user.id, 'password_changed');
    const { result } = await openFor(ctx, user, newHash);
    log.info(
      { request_id: ctx.requestId, user_id: user.id, session: ctx.session.prefix, new_session: prefixOf(result.session_id), sessions_ended: ended },
      '[PASSWORD CHANGED] every session ended, a new one opened for the caller',
    );
    return { ...result, sessions_ended: Math.max(0, ended - 1) };
  },
});

export const reauthenticate = defineMethod({
  name: 'sessions.reauthenticate',
  summary: 'Proves the password again (admin methods need a recent proof, ADMIN_REAUTH_WINDOW) and answers a new session id; the old one ends (reason reauthenticated).',
  params: Type.Object({ password: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false }),
  result: Type.Object({ ...RenewedSession, password_proved_at: DateTime }),
  requires: { session: true },
  async handler(params, ctx) {
    const user = await proveOwnPassword(ctx, params.password, 'password');
    const { sessions, log } = ctx.services;
    const { opened, result } = await openFor(ctx, user, user.password_hash);
    await sessions.end(ctx.session.hash, 'reauthenticated');
    log.info({ request_id: ctx.requestId, user_id: user.id, session: ctx.session.prefix, new_session: prefixOf(opened.sessionId) }, '[REAUTHENTICATED] session renewed with a fresh password proof');
    return { ...result, password_proved_at: new Date((opened.entry.pp ?? opened.entry.at) * 1000).toISOString() };
  },
});
