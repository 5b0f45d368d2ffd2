// What a method requires, and the decorators that enforce it, outermost first:
// requireJwt(requireSession(requireScope(handler))).
import type { CallContext } from '../rpc/context.ts';
import type { Handler } from '../rpc/method.ts';

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

export type ContextFor<Q extends Requirements> = CallContext;

type Decorator = (inner: Handler<unknown, unknown>) => Handler<unknown, unknown>;

export function decoratorsFor(requires: Requirements): Decorator {
  const needsBearer = Boolean(requires.bearer || requires.session || requires.scope || requires.admin);
  if (needsBearer) throw new Error('bearer and session checks arrive with the session issue');
  return (inner) => inner;
}
