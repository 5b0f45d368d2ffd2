// The error table of the README ("The API", **Errors.**), copied here by hand as literal texts: the
// tests compare answers with what users were promised, not with the server's own CATALOGUE (a typo
// there would otherwise pass). Change this file only when the README's table changes.
export interface DocumentedError {
  message: string;
  status: number;
  code: number;
}

export const ERROR_TABLE = {
  AUTH_HEADER_REQUIRED: { message: 'Authorization header is required', status: 401, code: -32001 },
  TOKEN_INVALID: { message: 'Token not found or invalid', status: 401, code: -32001 },
  TOKEN_EXPIRED: { message: 'Token has expired', status: 401, code: -32001 },
  TOKEN_REVOKED: { message: 'Token has been revoked', status: 401, code: -32001 },
  AUTHENTICATION_FAILED: { message: 'Invalid credentials', status: 401, code: -32001 },
  SESSION_REQUIRED: { message: 'Session required', status: 401, code: -32001 },
  SESSION_ID_FORMAT: { message: 'Invalid session_id format (must be 60-100 characters)', status: 401, code: -32001 },
  SESSION_INVALID: { message: 'Session validation failed', status: 401, code: -32001 },
  SESSION_EXPIRED: { message: 'Session expired', status: 401, code: -32001 },
  SESSION_TOKEN_REQUIRED: { message: 'Session token required', status: 401, code: -32001 },
  SESSION_TOKEN_INVALID: { message: 'Invalid session token', status: 401, code: -32001 },
  USER_INACTIVE: { message: 'User inactive', status: 403, code: -32003 },
  FORBIDDEN: { message: 'Forbidden', status: 403, code: -32003 },
  NOT_FOUND: { message: 'Not found', status: 404, code: -32004 },
  AGENT_LIMIT_REACHED: { message: 'Agent limit reached', status: 403, code: -32003 },
  RATE_LIMITED: { message: 'Too many requests', status: 429, code: -32029 },
  STORAGE_UNAVAILABLE: { message: 'Session storage unavailable', status: 503, code: -32053 },
  PARSE_ERROR: { message: 'Parse error', status: 400, code: -32700 },
  INVALID_REQUEST: { message: 'Invalid Request', status: 400, code: -32600 },
  BATCH_TOO_LARGE: { message: 'Invalid Request', status: 400, code: -32600 },
  METHOD_NOT_FOUND: { message: 'Method not found', status: 404, code: -32601 },
  INVALID_PARAMS: { message: 'Invalid params', status: 400, code: -32602 },
  INTERNAL_ERROR: { message: 'Internal error', status: 500, code: -32603 },
  PAYLOAD_TOO_LARGE: { message: 'Request body too large', status: 413, code: -32600 },
  UNSUPPORTED_MEDIA_TYPE: { message: 'Content-Type must be application/json', status: 415, code: -32600 },
  METHOD_NOT_ALLOWED: { message: 'Method not allowed: use POST', status: 405, code: -32600 },
  PATH_NOT_FOUND: { message: 'Not found', status: 404, code: -32601 },
} as const satisfies Record<string, DocumentedError>;

export type DocumentedCode = keyof typeof ERROR_TABLE;
