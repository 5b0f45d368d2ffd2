import { randomBytes } from 'node:crypto';

const ACCEPTABLE = /^[A-Za-z0-9._:\-]{1,64}$/;

/** The service's own id for a request: what the response, the log lines and the audit rows carry. */
export function newRequestId(): string {
  return `req_${randomBytes(12).toString('base64url')}`;
}

/**
 * A caller's X-Request-Id, kept beside ours (never instead of it: a caller must not choose the id the
 * log and the audit are searched by) when it is short and printable; otherwise dropped.
 */
export function clientRequestIdOf(incoming: string | undefined): string | undefined {
  return incoming && ACCEPTABLE.test(incoming) ? incoming : undefined;
}
