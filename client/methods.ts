// Every registry method's params and result types, derived at the type level from the same TypeBox
// declarations the server validates with. Type-only imports: nothing of the server reaches a bundle.
import type { TSchema } from '@sinclair/typebox';
import type { TypedMethod } from '../server/rpc/method.ts';
import type * as system from '../rpc-methods/system.ts';
import type * as users from '../rpc-methods/users.ts';
import type * as sessions from '../rpc-methods/sessions.ts';
import type * as agents from '../rpc-methods/agents.ts';
import type * as admin from '../rpc-methods/admin.ts';
import type * as audit from '../rpc-methods/audit.ts';
import type * as webhooks from '../rpc-methods/webhooks.ts';

type Domain = typeof system | typeof users | typeof sessions | typeof agents | typeof admin | typeof audit | typeof webhooks;
/** The method objects a domain file exports (anything else it exports is left out). */
type MethodsOf<D> = D extends unknown ? Extract<D[keyof D], TypedMethod<string, TSchema, TSchema>> : never;
type Declared = MethodsOf<Domain>;

/** name -> { params, result } for every method in rpc-methods/. */
export type MethodMap = { [M in Declared as M['name']]: NonNullable<M['__types']> };
export type MethodName = keyof MethodMap;
export type ParamsOf<N extends MethodName> = MethodMap[N]['params'];
export type ResultOf<N extends MethodName> = MethodMap[N]['result'];
/** A method whose params are all optional may be called without them. */
export type ParamsArg<N extends MethodName> = {} extends ParamsOf<N> ? [params?: ParamsOf<N>] : [params: ParamsOf<N>];
