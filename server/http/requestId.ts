// Request ids: the service's own for every request, and a caller's X-Request-Id kept beside it.
import { randomBytes } from 'node:crypto';

const ACCEPTABLE = /^[A-Za-z0-9._:\-]{1,64}$/;

// req_ + 8 random characters fixed for this process + a counter: unique across processes and
// restarts without random bytes per request (a synchronous randomBytes call was 2% of system.ping).
const PROCESS_PREFIX = `req_${randomBytes(6).toString('base64url')}`;
let counter = 0;

/** The service's own id for a request: what the response, the log lines and the audit rows carry. */
export function newRequestId(): string {
  return PROCESS_PREFIX + (++counter).toString(36);
}

/**
 * A caller's X-Request-Id, kept beside ours (never instead of it: a caller must not choose the id the
 * log and the audit are searched by) when it is short and printable; otherwise dropped.
 */
export function clientRequestIdOf(incoming: string | undefined): string | undefined {
  return incoming && ACCEPTABLE.test(incoming) ? incoming : undefined;
}
