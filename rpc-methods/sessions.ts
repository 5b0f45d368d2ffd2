// A user's own sessions: refresh, list, revoke.
import { Type } from '@sinclair/typebox';
import { defineMethod } from '../server/rpc/method.ts';
import { RpcError } from '../server/errors.ts';
import { idleDeadline } from '../server/sessions/idleDeadline.ts';

const DateTime = Type.String({ format: 'date-time' });

export const refresh = defineMethod({
  name: 'sessions.refresh',
  summary: 'Restarts the idle clock now; never extends the absolute lifetime.',
  params: Type.Object({}, { additionalProperties: false }),
  result: Type.Object({ expires_at: DateTime, absolute_expires_at: DateTime, idle_timeout: Type.Integer() }),
  requires: { session: true },
  async handler(_params, ctx) {
    const { sessions } = ctx.services;
    const expiresAt = await sessions.refresh(ctx.session);
    return { expires_at: expiresAt.toISOString(), absolute_expires_at: new Date(ctx.session.entry.abs * 1000).toISOString(), idle_timeout: sessions.idleTimeout };
  },
});

export const list = defineMethod({
  name: 'sessions.list',
  summary: "The user's active sessions: ip, user agent, login time, last activity, which is current.",
  params: Type.Object({}, { additionalProperties: false }),
  result: Type.Object({
    sessions: Type.Array(
      Type.Object({ id: Type.Integer(), ip: Type.String(), user_agent: Type.String(), client_id: Type.String(), login_at: DateTime, last_activity: DateTime, expires_at: DateTime, absolute_expires_at: DateTime, current: Type.Boolean() }),
    ),
  }),
  requires: { session: true },
  async handler(_params, ctx) {
    const { sessionRows, config } = ctx.services;
    const rows = await sessionRows.listActive({ userId: ctx.user.id, limit: config.maxSessionsPerUser + 100, offset: 0 });
    const now = Date.now();
    return {
      sessions: rows
        // Past their idle time in PostgreSQL's view (and not current): gone, whatever the sweeper has done yet.
        .filter((r) => r.session_hash === ctx.session.hash || now - r.last_activity.getTime() <= config.sessionIdleTimeout * 1000)
        .map((r) => {
          const current = r.session_hash === ctx.session.hash;
          // This call is the current session's activity: its idle clock restarts now.
          const lastActivity = current ? new Date() : r.last_activity;
          return {
            id: r.id,
            ip: r.ip,
            user_agent: r.user_agent,
            client_id: r.client_id,
            login_at: r.login_at.toISOString(),
            last_activity: lastActivity.toISOString(),
            // expires_at is the idle deadline, as in `me`; the row's expires_at is the absolute end.
            expires_at: idleDeadline(lastActivity, r.expires_at, config.sessionIdleTimeout).toISOString(),
            absolute_expires_at: r.expires_at.toISOString(),
            current,
          };
        }),
    };
  },
});

export const revoke = defineMethod({
  name: 'sessions.revoke',
  summary: "Ends one of the user's sessions by id, or all the others with all_others: true.",
  params: Type.Object({ id: Type.Optional(Type.Integer({ minimum: 1 })), all_others: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
  result: Type.Object({ revoked: Type.Integer() }),
  requires: { session: true },
  target: ['id'],
  async handler(params, ctx) {
    const { sessions, log } = ctx.services;
    if (params.all_others === true) {
      const revoked = await sessions.endOthers(ctx.user.id, ctx.session.hash);
      log.info({ request_id: ctx.requestId, user_id: ctx.user.id, revoked }, '[SESSION REVOKED] all other sessions');
      return { revoked };
    }
    if (params.id === undefined) throw new RpcError('INVALID_PARAMS', 'id or all_others: true is required', { field: 'id' });
    if (!(await sessions.endById(params.id, 'revoked', ctx.user.id))) throw new RpcError('NOT_FOUND', `No active session ${params.id} of yours`);
    log.info({ request_id: ctx.requestId, user_id: ctx.user.id, session_row: params.id }, '[SESSION REVOKED] one session');
    return { revoked: 1 };
  },
});
