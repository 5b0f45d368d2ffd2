// Step-up for admin work: the session must have proved its user's password within
// ADMIN_REAUTH_WINDOW seconds (a login is a proof; sessions.reauthenticate gives a fresh one with a new
// session id). 0 turns the requirement off. Runs after requireAdmin, so a non-admin hears FORBIDDEN
// whatever the age of their proof.
import { RpcError } from '../errors.ts';
import type { Handler } from '../rpc/method.ts';
import type { SessionContext } from './requireSession.ts';

export const REAUTH_METHOD = 'sessions.reauthenticate';

export const requireRecentProof =
  <P, R>(inner: Handler<P, R, SessionContext>): Handler<P, R, SessionContext> =>
  async (params, ctx) => {
    const window = ctx.services.config.adminReauthWindow;
    if (window > 0) {
      const { entry } = ctx.session;
      const provedAt = entry.pp ?? entry.at;
      const age = Math.floor(Date.now() / 1000) - provedAt;
      if (age > window) {
        ctx.record.reason = 'proof-too-old';
        ctx.services.log.warn(
          { request_id: ctx.requestId, method: ctx.record.method, user_id: ctx.user.id, session: ctx.session.prefix, proof_age: age, window, error_code: 'REAUTH_REQUIRED', error: 'Re-authentication required' },
          '[REAUTH REQUIRED] password proof too old for an admin method',
        );
        throw new RpcError(
          'REAUTH_REQUIRED',
          `Admin methods need a password proof from the last ${window} s; this session's is ${age} s old. Call ${REAUTH_METHOD} {password} and use the session_id it answers.`,
          { reauth_method: REAUTH_METHOD, proof_age: age, reauth_window: window },
        );
      }
    }
    return inner(params, ctx);
  };
