// The one error the client raises: a JSON-RPC error answer, a refused token request, or a transport
// failure, with what a caller needs to decide and what support needs to find the call in the logs.

/** The RFC 9457 problem object Tether puts in error.data. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  timestamp?: string;
  request_id?: string;
  error_code?: string;
  reason?: string;
  [member: string]: unknown;
}

export class TetherError extends Error {
  override name = 'TetherError';
  /** JSON-RPC error code (-32001...), 0 when the failure was not a JSON-RPC answer. */
  readonly code: number;
  /** Tether's error_code (SESSION_EXPIRED...), or OAuth's error for the token endpoint, or HTTP_ERROR / NETWORK_ERROR. */
  readonly errorCode: string;
  /** The HTTP status the error stands for (error.status in the body; the response's status otherwise). */
  readonly status: number;
  readonly requestId: string | undefined;
  readonly problem: Problem;

  constructor(message: string, fields: { code: number; errorCode: string; status: number; requestId?: string; problem?: Problem }) {
    super(message);
    this.code = fields.code;
    this.errorCode = fields.errorCode;
    this.status = fields.status;
    this.requestId = fields.requestId;
    this.problem = fields.problem ?? {};
  }

  /** From a JSON-RPC error object ({code, message, status, data}). */
  static fromRpc(error: { code?: unknown; message?: unknown; status?: unknown; data?: unknown }, requestId?: string): TetherError {
    const problem = (typeof error.data === 'object' && error.data !== null ? error.data : {}) as Problem;
    const status = typeof error.status === 'number' ? error.status : typeof problem.status === 'number' ? problem.status : 0;
    return new TetherError(typeof error.message === 'string' ? error.message : 'JSON-RPC error', {
      code: typeof error.code === 'number' ? error.code : 0,
      errorCode: typeof problem.error_code === 'string' ? problem.error_code : 'UNKNOWN',
      status,
      requestId: problem.request_id ?? requestId,
      problem,
    });
  }
}
