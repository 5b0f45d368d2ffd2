// The method registry: each declaration becomes a method wrapped by the decorators its `requires`
// names, with its params validator compiled once, here, at start. `receive` dispatches one request whose
// shape the transport has checked (rpcRoute.ts): a map lookup and the wrapped method. json-rpc-2.0's
// JSONRPCServer did this before; its generator-based awaits and middleware chain cost ~5% of a
// validated call (bench/), and it answered some requests with errors outside the catalogue.
import type { JSONRPCRequest, JSONRPCResponse } from 'json-rpc-2.0';
import { Type, type TSchema, type TObject } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { RpcError, renderError } from '../errors.ts';
import { decoratorsFor } from '../auth/requirements.ts';
import { defineMethod, type AnyMethod, type Handler } from './method.ts';
import { openRpcDocument } from './openrpc.ts';
import type { CallContext } from './context.ts';

export interface Registry {
  methods: ReadonlyMap<string, AnyMethod>;
  /** One well-formed request in; its response out, or null for a notification. */
  receive(request: JSONRPCRequest, ctx: CallContext): Promise<JSONRPCResponse | null>;
}

/**
 * Params every method accepts and no handler sees: session_id (a transport parameter, read by
 * requireSession), and Odoo's envelope, `context` (an object) and `db` (a string), which Odoo clients
 * send with every call; Tether has one database and no per-call context, so both are ignored.
 */
export const ENVELOPE_PARAMS = ['session_id', 'context', 'db'] as const;
const ENVELOPE = new Set<string>(ENVELOPE_PARAMS);

function withEnvelope(schema: TSchema): TSchema {
  if (schema.type !== 'object') return schema;
  const object = schema as TObject;
  return {
    ...object,
    properties: {
      ...object.properties,
      session_id: Type.Optional(Type.Unknown()),
      context: Type.Optional(Type.Object({}, { additionalProperties: true })),
      db: Type.Optional(Type.String({ maxLength: 256 })),
    },
  };
}

/**
 * What the schema cannot say and PostgreSQL would refuse with an error: a string holding U+0000 (text
 * cannot store it) or a number beyond +-(2^53-1) (not exact in JSON, beyond bigint at 1e19). The
 * first such member as [dotted field, why]; the envelope's params (session_id, context, db) are never stored.
 */
function unstorableFieldOf(value: unknown, path: string[] = [], depth = 0): [string, string] | undefined {
  const field = () => path.join('.') || 'params';
  if (typeof value === 'string') return value.includes('\u0000') ? [field(), 'must not contain the NUL character (U+0000)'] : undefined;
  if (typeof value === 'number') return Math.abs(value) > Number.MAX_SAFE_INTEGER ? [field(), 'must be between -9007199254740991 and 9007199254740991'] : undefined;
  if (typeof value !== 'object' || value === null || depth > 32) return undefined;
  for (const [key, member] of Object.entries(value)) {
    if (depth === 0 && ENVELOPE.has(key)) continue;
    const found = unstorableFieldOf(member, [...path, key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** What a handler gets for `{}` or `{session_id}`: one frozen empty object, not a copy per call. */
const NO_PARAMS = Object.freeze({});

/** `{}` or `{session_id}` (the transport's own parameter) and nothing else. */
function onlySessionId(raw: Record<string, unknown>): boolean {
  for (const key in raw) if (key !== 'session_id') return false;
  return true;
}

function fieldOf(path: string): string {
  return path.replace(/^\//, '').replace(/\//g, '.') || 'params';
}

const NAMED_ONLY = 'params must be an object of named members, e.g. {"name": value}: Tether takes no positional (array) params';

/** Validates, and strips the envelope's params; the handler gets typed params. */
function validated(method: AnyMethod): Handler<unknown, unknown> {
  const schema = withEnvelope(method.params);
  const check = TypeCompiler.Compile(schema);
  const isObject = schema.type === 'object';
  // `params: []` is how some clients (@open-rpc/client-js) say "no params": the same as none, for a
  // method that needs none. An array with members, or for a method with required params, is refused.
  const needsNone = isObject && !((schema as TObject).required?.length);
  return (_params, ctx) => {
    let raw = ctx.rawParams;
    if (isObject && (raw === undefined || (needsNone && Array.isArray(raw) && raw.length === 0))) raw = {};
    if (isObject && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) {
      throw new RpcError('INVALID_PARAMS', NAMED_ONLY, { field: 'params' });
    }
    if (!check.Check(raw)) {
      const first = check.Errors(raw).First();
      const field = first ? fieldOf(first.path) : 'params';
      throw new RpcError('INVALID_PARAMS', `${field}: ${first?.message ?? 'invalid'}`, { field });
    }
    // The common call names nothing but its session: nothing to look into, nothing to copy.
    if (isObject && onlySessionId(raw as Record<string, unknown>)) return method.handler(NO_PARAMS, ctx);
    const unstorable = unstorableFieldOf(raw);
    if (unstorable) throw new RpcError('INVALID_PARAMS', `${unstorable[0]}: ${unstorable[1]}`, { field: unstorable[0] });
    let params = raw;
    if (isObject && raw && typeof raw === 'object' && (ENVELOPE_PARAMS as readonly string[]).some((name) => name in raw)) {
      params = Object.fromEntries(Object.entries(raw).filter(([name]) => !ENVELOPE.has(name)));
    }
    return method.handler(params, ctx);
  };
}

/** rpc.* names are reserved by the specification for the server itself: the registry owns rpc.discover. */
function discoverMethod(methods: ReadonlyMap<string, AnyMethod>, version: string): AnyMethod {
  let document: ReturnType<typeof openRpcDocument> | undefined;
  return defineMethod({
    name: 'rpc.discover',
    summary: 'The OpenRPC 1.x document of every method, generated from the registry.',
    params: Type.Object({}, { additionalProperties: false }),
    result: Type.Object({ openrpc: Type.String() }, { additionalProperties: true }),
    requires: {},
    handler: async () => (document ??= openRpcDocument(methods.values(), version)),
  });
}

export function createRegistry(declarations: AnyMethod[], version = '0.1.0'): Registry {
  const methods = new Map<string, AnyMethod>();
  const runs = new Map<string, Handler<unknown, unknown>>();
  for (const method of [...declarations, discoverMethod(methods, version)]) {
    if (methods.has(method.name)) throw new Error(`method ${method.name} is declared twice`);
    methods.set(method.name, method);
    if (method.reads?.length && !(method.requires.bearer || method.requires.scope || method.requires.session || method.requires.admin)) {
      throw new Error(`method ${method.name} reads versions without a bearer check: nothing would read them`);
    }
    runs.set(method.name, decoratorsFor(method.requires, method.reads)(validated(method)));
  }

  async function receive(request: JSONRPCRequest, ctx: CallContext): Promise<JSONRPCResponse | null> {
    const run = runs.get(request.method);
    try {
      if (!run) throw new RpcError('METHOD_NOT_FOUND', `No method named ${JSON.stringify(request.method).slice(0, 120)}`);
      const result = await run(request.params, ctx);
      return request.id === undefined ? null : { jsonrpc: '2.0', id: request.id, result: result ?? null };
    } catch (error) {
      return errorResponse(request, error, ctx);
    }
  }

  return { methods, receive };
}

/** Notifications never get an answer, not even an error. */
export function errorResponse(request: { id?: JSONRPCRequest['id'] }, error: unknown, ctx: CallContext): JSONRPCResponse | null {
  if (!(error instanceof RpcError)) {
    ctx.services.log.error({ err: error, request_id: ctx.requestId, method: ctx.record.method }, 'unexpected error in method');
  }
  const body = renderError(error, { requestId: ctx.requestId, instance: ctx.instance, problemBaseUrl: ctx.services.config.problemBaseUrl });
  ctx.record.error = body;
  if (error instanceof RpcError && error.headers) ctx.record.headers = error.headers;
  if (request.id === undefined) return null;
  return { jsonrpc: '2.0', id: request.id, error: body } as JSONRPCResponse;
}
