// The client a session is bound to: ip, User-Agent, Accept-Language, and X-Client-Fingerprint when
// the client sent one at login. The policy (which components, how strict) is configuration and is
// applied at comparison time, so a policy change applies to sessions already open.
import { isIPv4, isIPv6 } from 'node:net';
import type { Config } from '../config.ts';
import type { Peer } from '../rpc/context.ts';

export interface Fingerprint {
  ip: string;
  ua: string;
  lang: string;
  client?: string;
}

export type Mismatch = 'USER-AGENT' | 'IP' | 'LANGUAGE' | 'CLIENT FINGERPRINT';

export const fingerprintOf = (peer: Peer): Fingerprint => ({
  ip: peer.ip,
  ua: peer.userAgent,
  lang: peer.acceptLanguage,
  ...(peer.clientFingerprint ? { client: peer.clientFingerprint } : {}),
});

/** Product tokens with major versions only: Chrome/120.0.6099.71 -> Chrome/120, so a browser update keeps the session. */
export const majorVersions = (ua: string): string => ua.replace(/\/(\d+)(?:\.[0-9A-Za-z]+)+/g, '/$1');

/** The eight 16-bit groups of a valid IPv6 address, whatever its spelling (zero compression, leading zeros, dotted IPv4 tail, zone). */
function ipv6Groups(ip: string): number[] {
  const [head, tail] = ip.split('%')[0].split('::');
  const groupsOf = (part: string | undefined): number[] =>
    (part ? part.split(':') : []).flatMap((g) => {
      if (!g.includes('.')) return [parseInt(g, 16)];
      const [a, b, c, d] = g.split('.').map(Number);
      return [(a << 8) | b, (c << 8) | d];
    });
  const before = groupsOf(head);
  const after = groupsOf(tail);
  const zeros = tail === undefined ? 0 : 8 - before.length - after.length;
  return [...before, ...new Array<number>(zeros).fill(0), ...after];
}

/** IPv4 /24, IPv6 /64: a client moving inside its network keeps the session. */
function subnetOf(ip: string): string {
  if (isIPv4(ip)) return ip.split('.').slice(0, 3).join('.');
  // The /64 from the expanded groups: "2001:db8::1" and "2001:db8:0:0::2" share one, "2001:db8::1:2:3:4:5" does not.
  if (isIPv6(ip)) return ipv6Groups(ip).slice(0, 4).map((g) => g.toString(16)).join(':');
  return ip;
}

/** The first component that differs, in the troubleshooting guide's order of likelihood. */
export function fingerprintMismatch(login: Fingerprint, now: Fingerprint, policy: Config['fingerprint']): Mismatch | undefined {
  const on = policy.components;
  if (on.has('ua')) {
    const norm = policy.ua === 'major' ? majorVersions : (ua: string) => ua;
    if (norm(login.ua) !== norm(now.ua)) return 'USER-AGENT';
  }
  if (on.has('ip') && policy.ip !== 'off') {
    const same = policy.ip === 'subnet' ? subnetOf(login.ip) === subnetOf(now.ip) : login.ip === now.ip;
    if (!same) return 'IP';
  }
  if (on.has('lang') && login.lang !== now.lang) return 'LANGUAGE';
  if (on.has('client') && login.client !== undefined && login.client !== now.client) return 'CLIENT FINGERPRINT';
  return undefined;
}
