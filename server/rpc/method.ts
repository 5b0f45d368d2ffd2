// One declaration per method: name, summary, params and result schemas, what it requires.
// That entry drives validation, the registry's decorators and the OpenRPC document.
import type { Static, TSchema } from '@sinclair/typebox';
import type { CallContext } from './context.ts';
import type { ContextFor, Requirements } from '../auth/requirements.ts';
import type { VersionedTable } from '../cache/stateCache.ts';

export type Handler<P, R, C extends CallContext = CallContext> = (params: P, ctx: C) => Promise<R>;

export interface MethodSpec<P extends TSchema, R extends TSchema, Q extends Requirements, N extends string = string> {
  name: N;
  summary: string;
  params: P;
  result: R;
  requires: Q;
  /** The params that name the object a call acts on (first present wins): the audit row's target_id. */
  target?: readonly string[];
  /**
   * Tables whose version the call's one cache round trip also reads (ctx.versions): a handler that
   * answers from a per-process memo (agents.list's pages) serves it only under the version read now.
   * Needs `bearer` or `session` (the round trip is the bearer check's).
   */
  reads?: readonly VersionedTable[];
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
  reads?: readonly VersionedTable[];
  handler: Handler<unknown, unknown, CallContext>;
}

/**
 * What defineMethod answers: the erased form the registry stores, still carrying its name, params and
 * result types (type level only, nothing at run time) so the client (client/methods.ts) derives every
 * method's signature from this one declaration with a type-only import.
 */
export interface TypedMethod<N extends string, P extends TSchema, R extends TSchema> extends AnyMethod {
  name: N;
  params: P;
  result: R;
  readonly __types?: { params: Static<P>; result: Static<R> };
}

export function defineMethod<P extends TSchema, R extends TSchema, const Q extends Requirements, const N extends string>(
  spec: MethodSpec<P, R, Q, N>,
): TypedMethod<N, P, R> {
  return spec as unknown as TypedMethod<N, P, R>;
}
