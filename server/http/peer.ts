// Who is calling: the socket's address, or, when the socket is a trusted proxy, what the proxy says
// (X-Forwarded-For, X-Forwarded-User-Agent). From anyone else those headers are ignored.
import { BlockList, isIPv6 } from 'node:net';
import type { Peer } from '../rpc/context.ts';

type Headers = Readonly<Record<string, string | undefined>>;

const bare = (ip: string) => ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
const family = (ip: string) => (isIPv6(ip) ? 'ipv6' : 'ipv4');

/** Is this address a trusted proxy? With none configured the answer is no without a lookup (the hot path). */
export type TrustCheck = (ip: string) => boolean;

export function trustedProxies(cidrs: string[]): TrustCheck {
  if (cidrs.length === 0) return () => false;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, prefix] = cidr.split('/');
    const ip = bare(address);
    if (prefix === undefined) list.addAddress(ip, family(ip));
    else list.addSubnet(ip, Number(prefix), family(ip));
  }
  return (ip) => ip !== '' && list.check(ip, family(ip));
}

export function peerOf(socketAddress: string | undefined, headers: Headers, trusted: TrustCheck): Peer {
  const direct = bare(socketAddress ?? '');
  let ip = direct;
  let userAgent = headers['user-agent'] ?? '';
  if (trusted(direct)) {
    // Walk X-Forwarded-For from the right: the first hop we do not trust is the client.
    const hops = (headers['x-forwarded-for'] ?? '').split(',').map((h) => bare(h.trim())).filter(Boolean);
    while (hops.length && trusted(hops[hops.length - 1])) hops.pop();
    if (hops.length) ip = hops[hops.length - 1];
    userAgent = headers['x-forwarded-user-agent'] ?? userAgent;
  }
  return {
    ip,
    userAgent,
    acceptLanguage: headers['accept-language'] ?? '',
    clientFingerprint: headers['x-client-fingerprint'] || undefined,
  };
}
