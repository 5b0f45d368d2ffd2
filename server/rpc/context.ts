// What a handler sees of a call: never Koa, only these typed facts. Decorators narrow it
// (requireJwt adds `client`, requireSession adds `user` and `session`).
import type { Services } from '../services.ts';
import type { JsonRpcErrorBody } from '../errors.ts';

/** Who is calling, as the transport resolved it (trusted proxies applied). */
export interface Peer {
  ip: string;
  userAgent: string;
  acceptLanguage: string;
  /** The X-Client-Fingerprint header, when sent. */
  clientFingerprint?: string;
}

/** Filled in as a call is checked, read by the call log and the audit. */
export interface CallRecord {
  method: string;
  clientId?: string;
  userId?: number;
  sessionPrefix?: string;
  /** First 16 hex characters of the session's SHA-256: what the audit log keeps. */
  sessionHashPrefix?: string;
  /** Why a refusal happened, in a word: the mismatched component, the end reason. Audited and counted. */
  reason?: string;
  /** The id of the object the call names (its method's `target` params), as sent: audited. */
  targetId?: string;
  /** Set when the call failed: what was answered. */
  error?: JsonRpcErrorBody;
  /** Extra HTTP headers a failure asks for (Retry-After), used when the call is a single request. */
  headers?: Record<string, string>;
}

export interface CallContext {
  requestId: string;
  transport: 'jsonrpc' | 'odoo' | 'console';
  /** The request path, the problem object's `instance`. */
  instance: string;
  peer: Peer;
  /** Lower-cased header names. */
  headers: Readonly<Record<string, string | undefined>>;
  cookie(name: string): string | undefined;
  /** Raw params of the call, before validation (requireSession reads session_id from here). */
  rawParams: unknown;
  record: CallRecord;
  services: Services;
  /** Set when every decorator passed and the handler runs: a call refused before it keeps no session alive. */
  reachedHandler?: boolean;
}
