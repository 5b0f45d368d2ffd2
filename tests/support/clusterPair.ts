// Two Tether instances on a throwaway PostgreSQL and a throwaway Redis Cluster (REDIS_CLUSTER_NODES),
// and where a session's cache entry lives: its slot group, that group's hash tag and slot.
import { startTestTether, type TestTether } from './tether.ts';
import { startThrowawayPostgres, type ThrowawayPostgres } from './throwaway.ts';
import { startThrowawayCluster, type ThrowawayCluster } from './redisCluster.ts';
import { storesEnv } from '../faults/load.ts';
import { CLUSTER_TAGS, groupOfSession, keySlot } from '../../server/cache/slotGroups.ts';
import { cacheKeyOf, hashOf } from '../../server/sessions/sessionId.ts';

export interface ClusterPair {
  pg: ThrowawayPostgres;
  cluster: ThrowawayCluster;
  a: TestTether;
  b: TestTether;
  close(): Promise<void>;
}

export const clusterEnv = (pg: ThrowawayPostgres, cluster: ThrowawayCluster): Record<string, string> => ({
  ...storesEnv(pg.url),
  REDIS_URL: '',
  REDIS_CLUSTER_NODES: cluster.nodesEnv,
});

export async function startClusterPair(): Promise<ClusterPair> {
  const [pg, cluster] = await Promise.all([startThrowawayPostgres(), startThrowawayCluster()]);
  let a: TestTether | undefined;
  let b: TestTether | undefined;
  const close = async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    await Promise.allSettled([cluster.stop(), pg.stop()]);
  };
  try {
    a = await startTestTether(clusterEnv(pg, cluster));
    b = await startTestTether(clusterEnv(pg, cluster));
  } catch (err) {
    await close();
    throw err;
  }
  return { pg, cluster, a, b, close };
}

/** Where a session's cache entry lives on the cluster: its group, the group's tag, the key, the slot. */
export function placeOf(sessionId: string): { group: number; tag: string; key: string; slot: number } {
  const plain = cacheKeyOf(hashOf(sessionId));
  const group = groupOfSession(plain, CLUSTER_TAGS.length);
  const tag = CLUSTER_TAGS[group];
  return { group, tag, key: tag + plain, slot: keySlot(tag) };
}

/**
 * Logs in (`login`) until the session lands in a group `wanted` accepts: at most 400 tries. A session
 * lands in one group of 16 at random: 60 tries missed one group 2% of the time (four callers at once:
 * 8%, seen in CI); 400 miss it about once in 10^10.
 */
export async function sessionWhere<T extends { sessionId: string }>(login: () => Promise<T>, wanted: (place: ReturnType<typeof placeOf>) => boolean): Promise<T> {
  for (let i = 0; i < 400; i++) {
    const s = await login();
    if (wanted(placeOf(s.sessionId))) return s;
  }
  throw new Error('no session landed where wanted in 400 logins');
}

/** tether_session_cache_lookups_total by result, summed over instances: did the cache answer, or PostgreSQL? */
export async function cacheLookups(...instances: Array<{ url: string }>): Promise<{ hit: number; miss: number; error: number }> {
  const sum = { hit: 0, miss: 0, error: 0 };
  for (const t of instances) {
    const text = await (await fetch(`${t.url}/metrics`)).text();
    for (const result of ['hit', 'miss', 'error'] as const) {
      const line = text.split('\n').find((l) => l.startsWith(`tether_session_cache_lookups_total{result="${result}"}`));
      sum[result] += Number(line?.split(' ').pop() ?? 0);
    }
  }
  return sum;
}
