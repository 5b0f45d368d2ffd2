// What a method requires, and the decorators that enforce it, outermost first:
// requireJwt(requireSession(requireScope(handler))).
import { RpcError } from '../errors.ts';
import type { CallContext } from '../rpc/context.ts';
import type { Handler } from '../rpc/method.ts';
import { requireJwt, type JwtContext } from './requireJwt.ts';
import { requireSession, type SessionContext } from './requireSession.ts';
import { requireRecentProof } from './requireRecentProof.ts';
import type { VersionedTable } from '../cache/stateCache.ts';

export interface Requirements {
  /** An application bearer token (OAuth client credentials). */
  bearer?: boolean;
  /** A user session bound to the caller; implies bearer. */
  session?: boolean;
  /** A scope the bearer's client must hold; implies bearer. */
  scope?: string;
  /** An admin user's session; implies session. */
  admin?: boolean;
}

export type ContextFor<Q extends Requirements> = Q extends { session: true } | { admin: true }
  ? SessionContext
  : Q extends { bearer: true } | { scope: string }
    ? JwtContext
    : CallContext;

const requireScope =
  <P, R, C extends JwtContext>(scope: string, inner: Handler<P, R, C>): Handler<P, R, C> =>
  async (params, ctx) => {
    if (!ctx.client.scopes.includes(scope)) {
      ctx.services.log.warn({ request_id: ctx.requestId, method: ctx.record.method, client_id: ctx.client.id, scope }, '[FORBIDDEN] scope missing');
      throw new RpcError('FORBIDDEN', `This method needs the OAuth scope "${scope}" on the client's token.`);
    }
    return inner(params, ctx);
  };

const requireAdmin =
  <P, R>(inner: Handler<P, R, SessionContext>): Handler<P, R, SessionContext> =>
  async (params, ctx) => {
    if (!ctx.user.is_admin) {
      ctx.services.log.warn({ request_id: ctx.requestId, method: ctx.record.method, user_id: ctx.user.id }, '[FORBIDDEN] admin user required');
      throw new RpcError('FORBIDDEN', 'This method needs an admin user\'s session.');
    }
    return inner(params, ctx);
  };

type AnyHandler = Handler<unknown, unknown, never>;

/** Wraps a handler in the decorators its requirements name; `reads`: the versions the bearer check's round trip also reads. */
export function decoratorsFor(requires: Requirements, reads: readonly VersionedTable[] = []): (inner: Handler<unknown, unknown>) => Handler<unknown, unknown> {
  const session = Boolean(requires.session || requires.admin);
  const bearer = Boolean(requires.bearer || requires.scope || session);
  return (inner) => {
    const reached: Handler<unknown, unknown> = (params, ctx) => {
      ctx.reachedHandler = true;
      // Only a call every check accepted keeps its session alive: a refused one writes no last activity,
      // so the undo of its slide (requireJwt) puts the TTL back where it was.
      const session = (ctx as Partial<SessionContext>).session;
      if (session) ctx.services.sessions.keepAlive(session);
      return inner(params, ctx);
    };
    let h = (bearer ? reached : inner) as AnyHandler;
    if (requires.admin) h = requireAdmin(requireRecentProof(h as Handler<unknown, unknown, SessionContext>)) as AnyHandler;
    if (requires.scope) h = requireScope(requires.scope, h as Handler<unknown, unknown, JwtContext>) as AnyHandler;
    if (session) h = requireSession(h as Handler<unknown, unknown, SessionContext>) as AnyHandler;
    if (bearer) h = requireJwt(h as Handler<unknown, unknown, JwtContext>, { session, reads }) as AnyHandler;
    return h as Handler<unknown, unknown>;
  };
}
