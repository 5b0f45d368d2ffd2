// Two Tether instances on one throwaway PostgreSQL and one throwaway Redis (so a test may kill, cut or
// restart them), each with its own Redis client; `proxied` instances reach Redis through a TCP proxy
// of their own (tcpProxy.ts: cut, restore, delay). Everything is stopped by close().
import { startTestTether, type TestTether } from './tether.ts';
import { startThrowawayPostgres, startThrowawayRedis, type ThrowawayPostgres, type ThrowawayRedis } from './throwaway.ts';
import { startTcpProxy, type TcpProxy } from './tcpProxy.ts';
import { storesEnv } from '../faults/load.ts';

export interface Pair {
  pg: ThrowawayPostgres;
  redis: ThrowawayRedis;
  a: TestTether;
  b: TestTether;
  /** The proxy in front of each proxied instance's Redis, by instance. */
  proxies: { a?: TcpProxy; b?: TcpProxy };
  close(): Promise<void>;
}

export async function startPair(options: { env?: Record<string, string>; proxied?: Array<'a' | 'b'> } = {}): Promise<Pair> {
  const [pg, redis] = await Promise.all([startThrowawayPostgres(), startThrowawayRedis()]);
  const proxies: Pair['proxies'] = {};
  const start = async (name: 'a' | 'b') => {
    if (options.proxied?.includes(name)) proxies[name] = await startTcpProxy(redis.port);
    return startTestTether({ ...storesEnv(pg.url, proxies[name]?.url ?? redis.url), ...options.env });
  };
  const a = await start('a');
  const b = await start('b');
  return {
    pg,
    redis,
    a,
    b,
    proxies,
    async close() {
      proxies.a?.delay(0);
      proxies.b?.delay(0);
      await Promise.allSettled([a.close(), b.close()]);
      await Promise.allSettled(Object.values(proxies).map((p) => p.close()));
      await Promise.allSettled([redis.stop(), pg.stop()]);
    },
  };
}
