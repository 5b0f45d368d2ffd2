// The error model in one place: the catalogue of DESIGN.md as data, and one renderer that turns any
// failure into a JSON-RPC 2.0 error whose `data` is an RFC 9457 problem object.

export interface ErrorSpec {
  message: string;
  status: number;
  /** JSON-RPC error code. */
  code: number;
  title: string;
}

// JSON-RPC codes: the specification's for protocol errors; -32000 - status/100 ... for the catalogue
// (401 -> -32001, 403 -> -32003, 429 -> -32029, 503 -> -32053), so a client can switch on either.
export const CATALOGUE = {
  AUTH_HEADER_REQUIRED: { message: 'Authorization header is required', status: 401, code: -32001, title: 'Authorization Header Required' },
  TOKEN_INVALID: { message: 'Token not found or invalid', status: 401, code: -32001, title: 'Token Invalid' },
  TOKEN_EXPIRED: { message: 'Token has expired', status: 401, code: -32001, title: 'Token Expired' },
  TOKEN_REVOKED: { message: 'Token has been revoked', status: 401, code: -32001, title: 'Token Revoked' },
  AUTHENTICATION_FAILED: { message: 'Invalid credentials', status: 401, code: -32001, title: 'Authentication Failed' },
  SESSION_REQUIRED: { message: 'Session required', status: 401, code: -32001, title: 'Session Required' },
  SESSION_ID_FORMAT: { message: 'Invalid session_id format (must be 60-100 characters)', status: 401, code: -32001, title: 'Invalid Session ID Format' },
  SESSION_INVALID: { message: 'Session validation failed', status: 401, code: -32001, title: 'Session Validation Failed' },
  SESSION_EXPIRED: { message: 'Session expired', status: 401, code: -32001, title: 'Session Expired' },
  SESSION_TOKEN_REQUIRED: { message: 'Session token required', status: 401, code: -32001, title: 'Session Token Required' },
  SESSION_TOKEN_INVALID: { message: 'Invalid session token', status: 401, code: -32001, title: 'Session Token Invalid' },
  REAUTH_REQUIRED: { message: 'Re-authentication required', status: 401, code: -32001, title: 'Re-authentication Required' },
  USER_INACTIVE: { message: 'User inactive', status: 403, code: -32003, title: 'User Inactive' },
  FORBIDDEN: { message: 'Forbidden', status: 403, code: -32003, title: 'Forbidden' },
  RATE_LIMITED: { message: 'Too many requests', status: 429, code: -32029, title: 'Too Many Requests' },
  STORAGE_UNAVAILABLE: { message: 'Session storage unavailable', status: 503, code: -32053, title: 'Session Storage Unavailable' },
  NOT_FOUND: { message: 'Not found', status: 404, code: -32004, title: 'Not Found' },
  AGENT_LIMIT_REACHED: { message: 'Agent limit reached', status: 403, code: -32003, title: 'Agent Limit Reached' },

  // JSON-RPC protocol errors (on /api/v1 a single request answers this status; /jsonrpc answers 200).
  PARSE_ERROR: { message: 'Parse error', status: 400, code: -32700, title: 'Parse Error' },
  INVALID_REQUEST: { message: 'Invalid Request', status: 400, code: -32600, title: 'Invalid Request' },
  BATCH_TOO_LARGE: { message: 'Invalid Request', status: 400, code: -32600, title: 'Batch Too Large' },
  METHOD_NOT_FOUND: { message: 'Method not found', status: 404, code: -32601, title: 'Method Not Found' },
  INVALID_PARAMS: { message: 'Invalid params', status: 400, code: -32602, title: 'Invalid Params' },
  INTERNAL_ERROR: { message: 'Internal error', status: 500, code: -32603, title: 'Internal Error' },

  // Transport refusals before any JSON-RPC: they keep their HTTP status.
  PAYLOAD_TOO_LARGE: { message: 'Request body too large', status: 413, code: -32600, title: 'Payload Too Large' },
  UNSUPPORTED_MEDIA_TYPE: { message: 'Content-Type must be application/json', status: 415, code: -32600, title: 'Unsupported Media Type' },
  METHOD_NOT_ALLOWED: { message: 'Method not allowed: use POST', status: 405, code: -32600, title: 'Method Not Allowed' },
  PATH_NOT_FOUND: { message: 'Not found', status: 404, code: -32601, title: 'Not Found' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof CATALOGUE;

/** A failure a handler, decorator or the transport raises on purpose: it renders as its catalogue entry. */
export class RpcError extends Error {
  override name = 'RpcError';
  constructor(
    readonly errorCode: ErrorCode,
    /** Human explanation for `data.detail`: never a secret, a token or a whole session id. */
    readonly detail?: string,
    /** Extra members for `data` (e.g. `field`, `session_timeout`). */
    readonly extra?: Record<string, unknown>,
    /** Extra HTTP headers for the single-request case (e.g. Retry-After). */
    readonly headers?: Record<string, string>,
  ) {
    // An expected refusal needs no stack: capturing one cost more than the rest of a refused call.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(CATALOGUE[errorCode].message);
    Error.stackTraceLimit = limit;
  }

  get status(): number {
    return CATALOGUE[this.errorCode].status;
  }
}

export interface RenderContext {
  requestId: string;
  instance: string;
  problemBaseUrl: string;
}

export interface JsonRpcErrorBody {
  code: number;
  message: string;
  status: number;
  data: {
    type: string;
    title: string;
    status: number;
    detail: string;
    instance: string;
    timestamp: string;
    request_id: string;
    error_code: ErrorCode;
    [extra: string]: unknown;
  };
}

const slug = (code: string) => code.toLowerCase().replace(/_/g, '-');

/** Any thrown value -> the DESIGN.md error shape. Unknown exceptions become -32603 with no internal detail. */
export function renderError(error: unknown, ctx: RenderContext): JsonRpcErrorBody {
  const failure = error instanceof RpcError ? error : new RpcError('INTERNAL_ERROR', 'The server could not complete the call; quote the request id when reporting it.');
  const spec = CATALOGUE[failure.errorCode];
  return {
    code: spec.code,
    message: spec.message,
    status: spec.status,
    data: {
      ...failure.extra,
      type: `${ctx.problemBaseUrl}/${slug(failure.errorCode)}`,
      title: spec.title,
      status: spec.status,
      detail: failure.detail ?? spec.message,
      instance: ctx.instance,
      timestamp: new Date().toISOString(),
      request_id: ctx.requestId,
      error_code: failure.errorCode,
    },
  };
}
