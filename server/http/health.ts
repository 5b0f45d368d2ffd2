// /readyz: PostgreSQL and the cache must both answer, each within a second; the body names the one that did not.
import type { Services } from '../services.ts';
import { within } from '../timers.ts';

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
  // Either store down is 503 (a balancer should prefer an instance that has both), but the body says
  // how bad: with the cache down calls still succeed from PostgreSQL ("degraded"); with PostgreSQL down
  // only sessions already cached work ("unavailable").
  const status = postgres !== 'ok' ? 'unavailable' : cache !== 'ok' ? 'degraded' : 'ok';
  return { ok: status === 'ok', status, postgres, cache, cache_kind: services.cache.kind, database_kind: services.db.kind };
}
