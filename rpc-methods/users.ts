// users.login, users.logout, me.
import { Type } from '@sinclair/typebox';
import { defineMethod } from '../server/rpc/method.ts';
import { RpcError } from '../server/errors.ts';
import { checkPassword, hashPassword } from '../server/auth/passwords.ts';
import { publicUser } from '../server/stores/userStore.ts';
import { hashPrefixOf, prefixOf } from '../server/sessions/sessionId.ts';
import { takeLoginSlot } from '../server/auth/loginThrottle.ts';
import { loginForLog } from '../server/auth/loginForLog.ts';
import { isoOfSeconds } from '../server/isoTime.ts';

const User = Type.Object({ id: Type.Integer(), login: Type.String(), name: Type.String(), is_admin: Type.Boolean() });
const DateTime = Type.String({ format: 'date-time' });

export const login = defineMethod({
  name: 'users.login',
  summary: 'Opens a session for a user; the session is bound to the calling client and its fingerprint.',
  params: Type.Object(
    {
      login: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
      email: Type.Optional(Type.String({ minLength: 1, maxLength: 254, description: 'accepted for login' })),
      password: Type.String({ minLength: 1, maxLength: 1024 }),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({
    session_id: Type.String({ minLength: 80, maxLength: 80 }),
    user: User,
    expires_at: DateTime,
    absolute_expires_at: DateTime,
    idle_timeout: Type.Integer(),
  }),
  requires: { bearer: true },
  async handler(params, ctx) {
    const name = params.login ?? params.email;
    if (!name) throw new RpcError('INVALID_PARAMS', 'login (or email) is required', { field: 'login' });
    const { users, sessions, log } = ctx.services;
    let found;
    try {
      found = await users.findForLogin(name);
    } catch {
      throw new RpcError('STORAGE_UNAVAILABLE', 'The user store could not answer; retry shortly.');
    }
    const { user, lowered } = found;
    // Before the hash, in one atomic step per counter: concurrent guesses each take their own slot.
    const slot = await takeLoginSlot(ctx, user ? { userId: user.id } : { lowered });
    // A disabled account is known before the hash: its password is checked against the stand-in hash
    // (the same work as any login), so it answers USER_INACTIVE whatever the password, which tells a
    // guesser nothing about it, and the attempt keeps its throttle slot (a failure, never a success).
    const active = user?.is_active === true;
    // Same work, same answer whether the user exists or not.
    const check = await checkPassword(active ? user?.password_hash : undefined, params.password);
    if (user && !active) {
      log.warn({ request_id: ctx.requestId, user_id: user.id, client_id: ctx.client.id, ip: ctx.peer.ip }, '[LOGIN FAILED] user inactive');
      throw new RpcError('USER_INACTIVE', 'This user is disabled: ask an administrator.');
    }
    if (!user || check === 'wrong') {
      log.warn({ request_id: ctx.requestId, ...loginForLog(name), client_id: ctx.client.id, ip: ctx.peer.ip }, '[LOGIN FAILED] invalid credentials');
      throw new RpcError('AUTHENTICATION_FAILED', 'The login or the password is wrong.');
    }
    await slot.succeeded();
    // A hash made before passwords were NFKC-normalised (or with older parameters): replaced now that
    // the password is known, compare-and-set on the hash just checked. A failure only logs: the old hash still works.
    // The session opens only while the hash this login verified is still the user's (checked under the
    // lock that opens it): after a rehash, that is the new one.
    let verified = user.password_hash;
    if (check === 'rehash') {
      await hashPassword(params.password)
        .then(async (hash) => {
          const changed = await users.setPasswordHash(user.id, hash, user.password_hash);
          if (changed) verified = hash;
          log.info({ request_id: ctx.requestId, user_id: user.id, changed }, '[PASSWORD REHASHED] stored in its normalised form');
        })
        .catch((err: Error) => log.warn({ request_id: ctx.requestId, user_id: user.id, err: err.message }, 'password rehash failed'));
    }
    ctx.record.userId = user.id;
    const opened = await sessions.open(publicUser(user), ctx.client.id, ctx.peer, verified);
    ctx.record.sessionPrefix = prefixOf(opened.sessionId);
    ctx.record.sessionHashPrefix = hashPrefixOf(opened.hash);
    log.info({ request_id: ctx.requestId, user_id: user.id, client_id: ctx.client.id, session: ctx.record.sessionPrefix }, '[LOGIN] session opened');
    return {
      session_id: opened.sessionId,
      user: publicUser(user),
      expires_at: opened.expiresAt.toISOString(),
      absolute_expires_at: opened.absoluteExpiresAt.toISOString(),
      idle_timeout: sessions.idleTimeout,
    };
  },
});

export const logout = defineMethod({
  name: 'users.logout',
  summary: 'Ends the current session everywhere at once.',
  params: Type.Object({}, { additionalProperties: false }),
  result: Type.Object({ logged_out: Type.Boolean() }),
  requires: { session: true },
  async handler(_params, ctx) {
    const ended = await ctx.services.sessions.end(ctx.session.hash, 'logout');
    ctx.services.log.info({ request_id: ctx.requestId, user_id: ctx.user.id, session: ctx.session.prefix }, '[LOGOUT] session ended');
    return { logged_out: ended };
  },
});

export const me = defineMethod({
  name: 'me',
  summary: 'The current user and session; keeps the session alive.',
  params: Type.Object({}, { additionalProperties: false }),
  result: Type.Object({
    user: User,
    session: Type.Object({ id: Type.Integer(), client_id: Type.String(), login_at: DateTime, expires_at: DateTime, absolute_expires_at: DateTime, idle_timeout: Type.Integer() }),
  }),
  requires: { session: true },
  async handler(_params, ctx) {
    const { entry } = ctx.session;
    const { sessions } = ctx.services;
    return {
      user: ctx.user,
      session: {
        id: entry.id,
        client_id: entry.cid,
        login_at: isoOfSeconds(entry.at),
        expires_at: isoOfSeconds(sessions.deadline(entry).getTime() / 1000),
        absolute_expires_at: isoOfSeconds(entry.abs),
        idle_timeout: sessions.idleTimeout,
      },
    };
  },
});
