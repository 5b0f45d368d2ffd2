// JSON-RPC over HTTP, both styles: POST /jsonrpc (named methods) and POST /api/v1/<path> (Odoo style,
// body method "call", the path names the method). The request's shape is checked here, so the registry
// only ever sees well-formed requests: an invalid object is -32600 with its reason, never taken for a
// notification, and a batch of one answers an array, as the specification wants.
import type { JSONRPCRequest, JSONRPCResponse } from 'json-rpc-2.0';
import { RpcError, renderError } from '../errors.ts';
import { errorResponse, type Registry } from '../rpc/registry.ts';
import type { CallContext, CallRecord, Peer } from '../rpc/context.ts';
import type { Services } from '../services.ts';
import { elapsedSince } from './elapsed.ts';

export interface Envelope {
  transport: 'jsonrpc' | 'odoo' | 'console';
  /** Odoo style: the registry name the path gave. */
  pathMethod?: string;
  /** The service's own request id: the response header, every log line and audit row. */
  requestId: string;
  /** The caller's X-Request-Id when it was acceptable: logged and audited beside requestId. */
  clientRequestId?: string;
  instance: string;
  peer: Peer;
  headers: Readonly<Record<string, string | undefined>>;
  cookie(name: string): string | undefined;
}

export interface RpcAnswer {
  /** null: notifications only, nothing to say. */
  body: JSONRPCResponse | JSONRPCResponse[] | null;
  status: number;
  headers: Record<string, string>;
}

type Id = JSONRPCRequest['id'];

const isId = (id: unknown): id is Id =>
  id === undefined || id === null || typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id));

function shapeProblem(value: unknown, envelope: Envelope): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'a request must be a JSON object';
  const r = value as Record<string, unknown>;
  if (r.jsonrpc !== '2.0') return 'jsonrpc must be exactly "2.0"';
  if (typeof r.method !== 'string') return 'method must be a string';
  if (envelope.transport === 'odoo' && r.method !== 'call') return 'method must be "call" on /api/v1/ paths (the path names the method)';
  if (r.params !== undefined && (typeof r.params !== 'object' || r.params === null)) return 'params must be an object or an array';
  if (!isId(r.id)) return 'id must be a string, a number or null';
  if (r.result !== undefined || r.error !== undefined) return 'a request carries no result or error member';
  return undefined;
}

/**
 * The object a call names, read from its raw params so a refused call (forbidden, invalid params) is
 * audited with its target too: an integer, or a short printable string; anything else is not kept.
 */
function targetOf(names: readonly string[] | undefined, params: unknown): string | undefined {
  if (!names || typeof params !== 'object' || params === null || Array.isArray(params)) return undefined;
  for (const name of names) {
    const value = (params as Record<string, unknown>)[name];
    if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
    if (typeof value === 'string' && /^[\x21-\x7e]{1,64}$/.test(value)) return value;
  }
  return undefined;
}

/** One log line and one audit row per call, whatever its outcome. */
function recordCall(services: Services, envelope: Envelope, record: CallRecord, started: bigint, known: boolean): void {
  const { seconds, ms: durationMs } = elapsedSince(started);
  services.metrics.observeCall(record, seconds, known);
  const status = record.error?.status ?? 200;
  const errorCode = record.error?.data.error_code;
  services.callLog({
    request_id: envelope.requestId,
    client_request_id: envelope.clientRequestId,
    transport: envelope.transport,
    method: record.method,
    status,
    error_code: errorCode,
    duration_ms: durationMs,
    client_id: record.clientId,
    user_id: record.userId,
    session: record.sessionPrefix,
  });
  services.audit.record({
    request_id: envelope.requestId,
    client_request_id: envelope.clientRequestId,
    target_id: record.targetId,
    method: record.method,
    status,
    error_code: errorCode,
    duration_ms: durationMs,
    user_id: record.userId,
    client_id: record.clientId,
    session_hash_prefix: record.sessionHashPrefix,
    reason: record.reason,
    ip: envelope.peer.ip,
    user_agent: envelope.peer.userAgent,
  });
}

/** One element: shape check, then the engine; always one log line. */
async function answerOne(value: unknown, envelope: Envelope, registry: Registry, services: Services): Promise<{ response: JSONRPCResponse | null; record: CallRecord }> {
  const started = process.hrtime.bigint();
  const r = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const method = envelope.pathMethod ?? (typeof r.method === 'string' ? r.method : '(invalid)');
  const ctx: CallContext = {
    requestId: envelope.requestId,
    transport: envelope.transport,
    instance: envelope.instance,
    peer: envelope.peer,
    headers: envelope.headers,
    cookie: envelope.cookie,
    rawParams: r.params,
    record: { method, targetId: targetOf(registry.methods.get(method)?.target, r.params) },
    services,
  };
  let response: JSONRPCResponse | null;
  const problem = shapeProblem(value, envelope);
  if (problem) {
    response = errorResponse({ id: isId(r.id) && r.id !== undefined ? r.id : null }, new RpcError('INVALID_REQUEST', problem), ctx);
  } else {
    // /jsonrpc: the request goes as it came (no copy per call). Odoo style: the path names the method,
    // and a request without id is answered with id null (Odoo's rule: every request gets an answer; a
    // login sent without id must still hand back its session_id).
    const request = r.method === method ? (r as unknown as JSONRPCRequest) : ({ jsonrpc: '2.0', id: r.id ?? null, method, params: r.params } as JSONRPCRequest);
    response = await registry.receive(request, ctx);
  }
  recordCall(services, envelope, ctx.record, started, registry.methods.has(ctx.record.method));
  return { response, record: ctx.record };
}

/**
 * The one HTTP status rule: on /api/v1 a single request (any body that is not a JSON array, an
 * unparsable one included) answers error.status, protocol errors too; a batch (a JSON array, even
 * an empty or oversized one) answers 200; /jsonrpc answers 200 for every JSON-RPC answer.
 */
const httpStatus = (envelope: Envelope, batch: boolean, error: { status?: number } | undefined): number =>
  envelope.transport === 'odoo' && !batch && error ? (error.status ?? 200) : 200;

function protocolFailure(errorCode: 'PARSE_ERROR' | 'INVALID_REQUEST' | 'BATCH_TOO_LARGE', detail: string, envelope: Envelope, services: Services, batch: boolean): RpcAnswer {
  const started = process.hrtime.bigint();
  const error = renderError(new RpcError(errorCode, detail), { requestId: envelope.requestId, instance: envelope.instance, problemBaseUrl: services.config.problemBaseUrl });
  recordCall(services, envelope, { method: envelope.pathMethod ?? '(none)', error }, started, envelope.pathMethod !== undefined);
  return { body: { jsonrpc: '2.0', id: null, error } as JSONRPCResponse, status: httpStatus(envelope, batch, error), headers: {} };
}

/** Parsed body in, what to answer out. `parsed` is undefined when the body was not valid JSON. */
export async function answerRpc(parsed: { ok: true; value: unknown } | { ok: false }, envelope: Envelope, registry: Registry, services: Services): Promise<RpcAnswer> {
  if (!parsed.ok) return protocolFailure('PARSE_ERROR', 'The body is not valid JSON', envelope, services, false);
  const body = parsed.value;

  if (Array.isArray(body)) {
    if (body.length === 0) return protocolFailure('INVALID_REQUEST', 'An empty batch is not a request', envelope, services, true);
    const limit = services.config.batchLimit;
    if (body.length > limit) return protocolFailure('BATCH_TOO_LARGE', `A batch may hold at most ${limit} requests; this one has ${body.length}`, envelope, services, true);
    const answers = await Promise.all(body.map((element) => answerOne(element, envelope, registry, services)));
    const responses = answers.map((a) => a.response).filter((r): r is JSONRPCResponse => r !== null);
    return { body: responses.length ? responses : null, status: 200, headers: {} };
  }

  const { response, record } = await answerOne(body, envelope, registry, services);
  if (!response) return { body: null, status: 200, headers: {} };
  const error = 'error' in response && response.error ? (response.error as { status?: number }) : undefined;
  return { body: response, status: httpStatus(envelope, false, error), headers: error ? { ...record.headers } : {} };
}
