// One declaration per method: name, summary, params and result schemas, what it requires.
// That entry drives validation, the registry's decorators and the OpenRPC document.
import type { Static, TSchema } from '@sinclair/typebox';
import type { CallContext } from './context.ts';
import type { ContextFor, Requirements } from '../auth/requirements.ts';

export type Handler<P, R, C extends CallContext = CallContext> = (params: P, ctx: C) => Promise<R>;

export interface MethodSpec<P extends TSchema, R extends TSchema, Q extends Requirements> {
  name: string;
  summary: string;
  params: P;
  result: R;
  requires: Q;
  /** The params that name the object a call acts on (first present wins): the audit row's target_id. */
  target?: readonly string[];
  handler: Handler<Static<P>, Static<R>, ContextFor<Q>>;
}

/** The erased form the registry stores. */
export interface AnyMethod {
  name: string;
  summary: string;
  params: TSchema;
  result: TSchema;
  requires: Requirements;
  target?: readonly string[];
  handler: Handler<unknown, unknown, CallContext>;
}

export function defineMethod<P extends TSchema, R extends TSchema, const Q extends Requirements>(
  spec: MethodSpec<P, R, Q>,
): AnyMethod {
  return spec as unknown as AnyMethod;
}
