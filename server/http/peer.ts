// Who is calling: the socket's address, or, when the socket is a trusted proxy, what the proxy says
// (X-Forwarded-For, X-Forwarded-User-Agent). From anyone else those headers are ignored.
import { BlockList, isIPv6 } from 'node:net';
import type { Peer } from '../rpc/context.ts';

type Headers = Readonly<Record<string, string | undefined>>;

const bare = (ip: string) => ip.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
const family = (ip: string) => (isIPv6(ip) ? 'ipv6' : 'ipv4');

export function trustedProxies(cidrs: string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, prefix] = cidr.split('/');
    const ip = bare(address);
    if (prefix === undefined) list.addAddress(ip, family(ip));
    else list.addSubnet(ip, Number(prefix), family(ip));
  }
  return list;
}

export function peerOf(socketAddress: string | undefined, headers: Headers, proxies: BlockList): Peer {
  const direct = bare(socketAddress ?? '');
  const trusted = (ip: string) => ip !== '' && proxies.check(ip, family(ip));
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
