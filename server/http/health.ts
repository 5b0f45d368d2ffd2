// /readyz: PostgreSQL and the cache must both answer, each within a second.
import type { Services } from '../services.ts';

const within = <T>(ms: number, work: Promise<T>): Promise<T> =>
  Promise.race([work, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

async function probe(work: () => Promise<unknown>): Promise<string> {
  try {
    await within(1000, work());
    return 'ok';
  } catch (err) {
    return `unavailable: ${(err as Error).message}`;
  }
}

export async function readiness(services: Services) {
  const [postgres, cache] = await Promise.all([
    probe(() => services.db.sql`select 1`),
    probe(() => services.cache.ping()),
  ]);
  return { ok: postgres === 'ok' && cache === 'ok', postgres, cache, cache_kind: services.cache.kind, database_kind: services.db.kind };
}
