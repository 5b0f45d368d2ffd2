import { randomBytes } from 'node:crypto';

const ACCEPTABLE = /^[A-Za-z0-9._:\-]{1,64}$/;

/** Keep a caller's id when it is short and printable; otherwise make one. */
export function requestIdFor(incoming: string | undefined): string {
  return incoming && ACCEPTABLE.test(incoming) ? incoming : `req_${randomBytes(12).toString('base64url')}`;
}
