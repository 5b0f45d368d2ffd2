// Administration: the OAuth client needs scope "admin" and the session must be an admin user's.
import { Type } from '@sinclair/typebox';
import { defineMethod } from '../server/rpc/method.ts';
import { RpcError } from '../server/errors.ts';
import { callTimeline, sessionStatistics } from '../server/stores/statistics.ts';
import { cacheState } from '../server/cache/cacheState.ts';
import { idleDeadline } from '../server/sessions/idleDeadline.ts';

const DateTime = Type.String({ format: 'date-time' });
const ADMIN = { admin: true, scope: 'admin' } as const;

export const sessionsList = defineMethod({
  name: 'admin.sessions.list',
  summary: 'Active sessions of every user (or one), newest first.',
  params: Type.Object(
    {
      user_id: Type.Optional(Type.Integer({ minimum: 1 })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
      offset: Type.Optional(Type.Integer({ minimum: 0 })),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({
    sessions: Type.Array(
      Type.Object({ id: Type.Integer(), user_id: Type.Integer(), login: Type.String(), client_id: Type.String(), ip: Type.String(), user_agent: Type.String(), login_at: DateTime, last_activity: DateTime, expires_at: DateTime, absolute_expires_at: DateTime }),
    ),
  }),
  requires: ADMIN,
  target: ['user_id'],
  async handler(params, ctx) {
    const rows = await ctx.services.sessionRows.listActive({ userId: params.user_id, limit: params.limit ?? 100, offset: params.offset ?? 0 });
    return {
      sessions: rows.map((r) => ({
        id: r.id,
        user_id: r.user_id,
        login: r.login,
        client_id: r.client_id,
        ip: r.ip,
        user_agent: r.user_agent,
        login_at: r.login_at.toISOString(),
        last_activity: r.last_activity.toISOString(),
        // The idle deadline, as in `me`; the row's expires_at is the absolute end.
        expires_at: idleDeadline(r.last_activity, r.expires_at, ctx.services.config.sessionIdleTimeout).toISOString(),
        absolute_expires_at: r.expires_at.toISOString(),
      })),
    };
  },
});

export const sessionsRevoke = defineMethod({
  name: 'admin.sessions.revoke',
  summary: 'Ends one session by id, or every session of a user.',
  params: Type.Object({ id: Type.Optional(Type.Integer({ minimum: 1 })), user_id: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false }),
  result: Type.Object({ revoked: Type.Integer() }),
  requires: ADMIN,
  target: ['id', 'user_id'],
  async handler(params, ctx) {
    const { sessions, log } = ctx.services;
    let revoked: number;
    if (params.id !== undefined) revoked = (await sessions.endById(params.id, 'revoked')) ? 1 : 0;
    else if (params.user_id !== undefined) revoked = await sessions.endAllOfUser(params.user_id, 'revoked');
    else throw new RpcError('INVALID_PARAMS', 'id or user_id is required', { field: 'id' });
    log.info({ request_id: ctx.requestId, admin_id: ctx.user.id, session_row: params.id, target_user: params.user_id, revoked }, '[ADMIN] sessions revoked');
    return { revoked };
  },
});

export const stats = defineMethod({
  name: 'admin.stats',
  summary: "The troubleshooting guide's monitoring figures (active sessions, average session duration, 401s in the last day), plus hijack detections by component and session ends by reason over a window (default one day), logins and refusals (by error_code) per minute over the last timeline_minutes (default 60), and the cache's state.",
  params: Type.Object(
    { window_seconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 366 * 86400 })), timeline_minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440 })) },
    { additionalProperties: false },
  ),
  result: Type.Object({
    active_sessions: Type.Integer(),
    average_session_duration_seconds: Type.Number(),
    unauthorized_last_day: Type.Integer(),
    window_seconds: Type.Integer(),
    hijack_detections: Type.Record(Type.String(), Type.Integer()),
    sessions_ended: Type.Record(Type.String(), Type.Integer()),
    timeline: Type.Array(Type.Object({ minute: DateTime, logins: Type.Integer(), refusals: Type.Record(Type.String(), Type.Integer()) })),
    cache: Type.Object({
      kind: Type.String(),
      reachable: Type.Boolean(),
      log_position: Type.Number(),
      cache_position: Type.Union([Type.Number(), Type.Null()]),
      behind: Type.Boolean(),
    }),
  }),
  requires: ADMIN,
  async handler(params, ctx) {
    // Rows still in the audit queue count too: a figure asked for right after a refusal includes it.
    await ctx.services.audit.flush();
    const { sql } = ctx.services.db;
    const [figures, timeline, cache] = await Promise.all([
      sessionStatistics(sql, ctx.services.config.sessionIdleTimeout, params.window_seconds),
      callTimeline(sql, params.timeline_minutes ?? 60),
      cacheState(ctx.services),
    ]);
    return { ...figures, timeline, cache };
  },
});

const Scope = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.:-]+$' });

export const usersSetAdmin = defineMethod({
  name: 'admin.users.set_admin',
  summary: "Grants or takes a user's admin flag; the user's sessions see it at their next call.",
  params: Type.Object({ user_id: Type.Integer({ minimum: 1, maximum: 9007199254740991 }), is_admin: Type.Boolean() }, { additionalProperties: false }),
  result: Type.Object({ user_id: Type.Integer(), login: Type.String(), is_admin: Type.Boolean() }),
  target: ['user_id'],
  requires: ADMIN,
  async handler(params, ctx) {
    const { users, log } = ctx.services;
    const target = await users.findById(params.user_id);
    const user = target && (await users.setAdmin(target.login, params.is_admin));
    if (!user) throw new RpcError('NOT_FOUND', `No user ${params.user_id}`);
    log.info({ request_id: ctx.requestId, admin_id: ctx.user.id, target_user: user.id, is_admin: user.is_admin }, '[ADMIN] admin flag set');
    return { user_id: user.id, login: user.login, is_admin: user.is_admin };
  },
});

export const clientsSetScopes = defineMethod({
  name: 'admin.clients.set_scopes',
  summary: "Sets an OAuth client's scopes: a scope removed is refused at the next call, one added comes with the client's next token.",
  params: Type.Object({ client_id: Type.String({ minLength: 1, maxLength: 100 }), scopes: Type.Array(Scope, { maxItems: 50, uniqueItems: true }) }, { additionalProperties: false }),
  result: Type.Object({ client_id: Type.String(), scopes: Type.Array(Type.String()) }),
  target: ['client_id'],
  requires: ADMIN,
  async handler(params, ctx) {
    const client = await ctx.services.clients.setScopes(params.client_id, params.scopes);
    if (!client) throw new RpcError('NOT_FOUND', `No client ${params.client_id}`);
    ctx.services.log.info({ request_id: ctx.requestId, admin_id: ctx.user.id, target_client: client.id, scopes: client.scopes }, '[ADMIN] client scopes set');
    return { client_id: client.id, scopes: client.scopes };
  },
});
