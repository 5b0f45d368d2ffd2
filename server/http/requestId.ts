import { randomBytes } from 'node:crypto';

const ACCEPTABLE = /^[A-Za-z0-9._:\-]{1,64}$/;

// req_ + 8 random characters fixed for this process + a counter: unique across processes and
// restarts without random bytes per request (a synchronous randomBytes call was 2% of system.ping).
const PROCESS_PREFIX = `req_${randomBytes(6).toString('base64url')}`;
let counter = 0;

/** Keep a caller's id when it is short and printable; otherwise make one. */
export function requestIdFor(incoming: string | undefined): string {
  return incoming && ACCEPTABLE.test(incoming) ? incoming : PROCESS_PREFIX + (++counter).toString(36);
}
