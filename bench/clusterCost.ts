// What the Redis Cluster layout costs beside one Redis (`make bench-cluster`): the cache alone, no
// HTTP. A throwaway redis-server and a throwaway six-node cluster (3 masters) on loopback; on each:
// - the validated call's lookup (one script on one slot: the session's group), LOOKUPS of them with
//   64 in flight: calls/s, and Redis CPU per lookup (used_cpu_user + used_cpu_sys over the masters);
// - the change log's apply of one change (one script on one Redis; one per slot group on a cluster,
//   GROUPS of them): ms per apply and Redis CPU per apply;
// - a fill of a state key (a cache miss read from PostgreSQL): commands sent (by construction, not timed).
import { randomUUID, createHash } from 'node:crypto';
import { createLogger } from '../server/log.ts';
import { redisCache } from '../server/cache/redisCache.ts';
import { GROUPS } from '../server/cache/slotGroups.ts';
import type { Cache } from '../server/cache/cache.ts';
import { startThrowawayRedis } from '../tests/support/throwaway.ts';
import { startThrowawayCluster } from '../tests/support/redisCluster.ts';
import { execFileSync } from 'node:child_process';

const LOOKUPS = Number(process.env.LOOKUPS ?? 30_000);
const APPLIES = Number(process.env.APPLIES ?? 300);
const log = createLogger('warn');

const cpuOf = (ports: number[]) =>
  ports.reduce((sum, port) => {
    const info = execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'info', 'cpu'], { encoding: 'utf8' });
    const num = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
    return sum + num('used_cpu_user') + num('used_cpu_sys');
  }, 0);

async function measure(name: string, cache: Cache, masterPorts: () => number[]) {
  const sessions = Array.from({ length: 1000 }, (_, i) => `session:${createHash('sha256').update(`s${i}`).digest('hex')}`);
  await cache.applyLog([{ pos: 1, key: 'user:1', value: '{"a":true,"adm":false}', ttl: 3600 }], 1);
  for (const s of sessions) await cache.set(s, JSON.stringify({ uid: 1, v: 1 }), 3600);
  await cache.setIfAbsent('client:c', '{"a":true,"s":[]}', 3600);
  await cache.setIfAbsent('token:t', 'ok', 3600);
  let known = await cache.position();

  let cpu = cpuOf(masterPorts());
  let started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < LOOKUPS) {
        const found = await cache.lookup(sessions[next++ % sessions.length], 900, 'user:', ['client:c', 'token:t'], known);
        if (found.behind || !found.session || !found.user) throw new Error('lookup missed');
      }
    }),
  );
  const lookupSeconds = (performance.now() - started) / 1000;
  const lookupCpu = cpuOf(masterPorts()) - cpu;

  cpu = cpuOf(masterPorts());
  started = performance.now();
  for (let i = 0; i < APPLIES; i++) {
    known += 1;
    await cache.applyLog([{ pos: known, key: sessions[i % sessions.length], value: '?' + known, ttl: 3600 }], known);
  }
  const applyMs = (performance.now() - started) / APPLIES;
  const applyCpu = cpuOf(masterPorts()) - cpu;
  const fillCommands = name === 'one Redis' ? '1' : `1 (the session's group; ${GROUPS} on a call without a session)`;
  console.log(
    `${name.padEnd(22)} lookup: ${Math.round(LOOKUPS / lookupSeconds).toLocaleString()} /s, Redis ${((lookupCpu / LOOKUPS) * 1e6).toFixed(1)} us CPU each | ` +
      `apply of one change: ${applyMs.toFixed(2)} ms, Redis ${((applyCpu / APPLIES) * 1e6).toFixed(0)} us CPU | fill of a state key: ${fillCommands} SET NX`,
  );
}

const single = await startThrowawayRedis();
const cluster = await startThrowawayCluster();
try {
  const one = await redisCache(single.url, log, randomUUID());
  await measure('one Redis', one, () => [single.port]);
  await one.close();
  const masters = async () => (await cluster.topology()).filter((n) => n.role === 'master').map((n) => n.port);
  const ports = await masters();
  const many = await redisCache({ clusterNodes: cluster.nodesEnv.split(',') }, log, randomUUID());
  await measure(`cluster (3 masters)`, many, () => ports);
  await many.close();
} finally {
  await Promise.allSettled([single.stop(), cluster.stop()]);
}
