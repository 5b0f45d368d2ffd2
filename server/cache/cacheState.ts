// The cache as an operator sees it (admin.stats, the console's overview): which kind, whether it
// answers, and whether it has applied the change log up to what this instance has read (a cache behind
// answers no protected call until it has caught up: PostgreSQL answers meanwhile).
import type { Services } from '../services.ts';

export interface CacheState {
  kind: 'redis' | 'memory';
  reachable: boolean;
  /** The change-log position this instance has read up to. */
  log_position: number;
  /** The position the cache has applied; null when it could not answer. */
  cache_position: number | null;
  behind: boolean;
}

export async function cacheState(services: Pick<Services, 'cache' | 'changes'>): Promise<CacheState> {
  const { cache, changes } = services;
  let position: number | null = null;
  try {
    position = await cache.position();
  } catch {
    position = null;
  }
  const known = changes.known();
  return { kind: cache.kind, reachable: position !== null, log_position: known, cache_position: position, behind: position === null || position < known };
}
