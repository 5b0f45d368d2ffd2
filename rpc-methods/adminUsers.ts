// User administration over JSON-RPC: the OAuth client needs scope "admin", the session must be an admin
// user's with a recent password proof (ADMIN_REAUTH_WINDOW). Methods acting on one user name it
// `user_id`, which the audit keeps as the call's target.
import { Type } from '@sinclair/typebox';
import { defineMethod } from '../server/rpc/method.ts';
import { RpcError } from '../server/errors.ts';
import { hashPassword } from '../server/auth/passwords.ts';
import { assertAcceptablePassword, PASSWORD_POLICY } from '../server/auth/passwordPolicy.ts';
import type { UserRow } from '../server/stores/userStore.ts';
import { fromStore } from './support/storage.ts';

const ADMIN = { admin: true, scope: 'admin' } as const;
const DateTime = Type.String({ format: 'date-time' });
const UserId = Type.Integer({ minimum: 1 });

const AdminUser = Type.Object({ id: Type.Integer(), login: Type.String(), name: Type.String(), is_admin: Type.Boolean(), is_active: Type.Boolean(), created_at: DateTime });
const adminUser = (u: UserRow) => ({ id: u.id, login: u.login, name: u.name, is_admin: u.is_admin, is_active: u.is_active, created_at: u.created_at.toISOString() });

const notFound = (id: number) => new RpcError('NOT_FOUND', `No user ${id}`, { field: 'user_id' });

export const usersList = defineMethod({
  name: 'admin.users.list',
  summary: 'Every user (active or not), by id.',
  params: Type.Object(
    { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })), offset: Type.Optional(Type.Integer({ minimum: 0 })) },
    { additionalProperties: false },
  ),
  result: Type.Object({ users: Type.Array(AdminUser) }),
  requires: ADMIN,
  async handler(params, ctx) {
    const rows = await fromStore(ctx.services.users.listPage({ limit: params.limit ?? 100, offset: params.offset ?? 0 }), 'user store');
    return { users: rows.map(adminUser) };
  },
});

export const usersCreate = defineMethod({
  name: 'admin.users.create',
  summary: 'Creates a user (login unique, case-insensitively).',
  params: Type.Object(
    {
      login: Type.String({ minLength: 1, maxLength: 254 }),
      password: Type.String({ minLength: 1, maxLength: 1024, description: PASSWORD_POLICY }),
      name: Type.Optional(Type.String({ maxLength: 254 })),
      is_admin: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ user: AdminUser }),
  target: ['login'],
  requires: ADMIN,
  async handler(params, ctx) {
    await assertAcceptablePassword(params.password, 'password');
    const { users, log } = ctx.services;
    const taken = () => new RpcError('INVALID_PARAMS', `login: a user with login ${JSON.stringify(params.login.slice(0, 64))} already exists`, { field: 'login', rule: 'unique' });
    if (await fromStore(users.findByLogin(params.login), 'user store')) throw taken();
    let user: UserRow;
    try {
      user = await users.create({ login: params.login, passwordHash: await hashPassword(params.password), name: params.name, isAdmin: params.is_admin });
    } catch (err) {
      // Two creations of one login at once: the unique index refuses the second.
      if ((err as { code?: string }).code === '23505') throw taken();
      throw new RpcError('STORAGE_UNAVAILABLE', 'The user store could not answer; retry shortly.');
    }
    log.info({ request_id: ctx.requestId, admin_id: ctx.user.id, target_user: user.id, is_admin: user.is_admin }, '[ADMIN] user created');
    return { user: adminUser(user) };
  },
});

export const usersDisable = defineMethod({
  name: 'admin.users.disable',
  summary: "Disables a user and ends all their sessions (reason user_disabled); their logins answer USER_INACTIVE.",
  params: Type.Object({ user_id: UserId }, { additionalProperties: false }),
  result: Type.Object({ user: AdminUser, sessions_ended: Type.Integer() }),
  target: ['user_id'],
  requires: ADMIN,
  async handler(params, ctx) {
    // An admin locking themselves out is a mistake; another admin (or the command line) can do it.
    if (params.user_id === ctx.user.id) throw new RpcError('INVALID_PARAMS', 'user_id: an administrator cannot disable their own user', { field: 'user_id', rule: 'not_self' });
    const { users, sessions, log } = ctx.services;
    const user = await fromStore(users.setActiveById(params.user_id, false), 'user store');
    if (!user) throw notFound(params.user_id);
    // After the flag: a login racing this one is refused as inactive, or its session is ended here.
    const ended = await sessions.endAllOfUser(user.id, 'user_disabled');
    log.info({ request_id: ctx.requestId, admin_id: ctx.user.id, target_user: user.id, sessions_ended: ended }, '[ADMIN] user disabled');
    return { user: adminUser(user), sessions_ended: ended };
  },
});

export const usersEnable = defineMethod({
  name: 'admin.users.enable',
  summary: 'Enables a disabled user: they can log in again.',
  params: Type.Object({ user_id: UserId }, { additionalProperties: false }),
  result: Type.Object({ user: AdminUser }),
  target: ['user_id'],
  requires: ADMIN,
  async handler(params, ctx) {
    const user = await fromStore(ctx.services.users.setActiveById(params.user_id, true), 'user store');
    if (!user) throw notFound(params.user_id);
    ctx.services.log.info({ request_id: ctx.requestId, admin_id: ctx.user.id, target_user: user.id }, '[ADMIN] user enabled');
    return { user: adminUser(user) };
  },
});

export const usersResetPassword = defineMethod({
  name: 'admin.users.reset_password',
  summary: "Sets a user's password and ends all their sessions (reason password_reset).",
  params: Type.Object({ user_id: UserId, new_password: Type.String({ minLength: 1, maxLength: 1024, description: PASSWORD_POLICY }) }, { additionalProperties: false }),
  result: Type.Object({ user: AdminUser, sessions_ended: Type.Integer() }),
  target: ['user_id'],
  requires: ADMIN,
  async handler(params, ctx) {
    await assertAcceptablePassword(params.new_password, 'new_password');
    const { users, sessions, log } = ctx.services;
    const user = await fromStore(users.findById(params.user_id), 'user store');
    if (!user) throw notFound(params.user_id);
    await fromStore(users.setPasswordHash(user.id, await hashPassword(params.new_password)), 'user store');
    const ended = await sessions.endAllOfUser(user.id, 'password_reset');
    log.info({ request_id: ctx.requestId, admin_id: ctx.user.id, target_user: user.id, sessions_ended: ended }, '[ADMIN] password reset, sessions ended');
    return { user: adminUser(user), sessions_ended: ended };
  },
});
