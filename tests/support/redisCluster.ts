// A throwaway Redis Cluster for tests: six `redis-server --cluster-enabled yes` on free loopback
// ports (3 masters, 3 replicas, made by `redis-cli --cluster create --cluster-replicas 1`), with a
// short cluster-node-timeout so a killed master fails over in a few seconds. Every process and file
// is removed by stop(), and by the exit hook of throwaway.ts on any failure. A redis-server without
// cluster support fails start (it refuses --cluster-enabled), so a test on it fails, never skips.
//
//   const cluster = await startThrowawayCluster();
//   cluster.nodesEnv                      // "127.0.0.1:P1,127.0.0.1:P2,..." for REDIS_CLUSTER_NODES
//   await cluster.cli(port, 'cluster', 'info')
//   const { master, replica } = await cluster.shardOf(slot)
//   await cluster.node(port).kill()      // SIGKILL; .pause() SIGSTOP, .resume() SIGCONT
//   await cluster.stop()
import { execFile, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, launch, redisAnswers, removeDir, terminate, throwawayDir, until } from './throwaway.ts';

const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';
const REDIS_CLI = process.env.REDIS_CLI ?? 'redis-cli';
/** Short, so a killed master is failed over in ~2-3 s (the default 15 s would dominate a test). */
export const NODE_TIMEOUT_MS = 1000;

export interface ClusterNodeProcess {
  port: number;
  kill(): Promise<void>;
  /** Starts a killed node again on its port, with its nodes.conf (its identity) and no data. */
  start(): Promise<void>;
  /** SIGSTOP: the process is frozen (its sockets stay open, nothing is read or answered). */
  pause(): void;
  resume(): void;
}

export interface TopologyNode {
  id: string;
  port: number;
  role: 'master' | 'replica';
  masterId?: string;
  failed: boolean;
  slots: Array<[number, number]>;
}

export interface ThrowawayCluster {
  ports: number[];
  nodesEnv: string;
  node(port: number): ClusterNodeProcess;
  /** redis-cli -p port args... (its stdout); rejects on a non-zero exit or after `ms`. */
  cli(port: number, ...args: string[]): Promise<string>;
  /** GET on any node, a replica too (READONLY first, on the same connection). */
  readKey(port: number, key: string): Promise<string>;
  /** CLUSTER NODES as seen by `fromPort` (any live node by default). */
  topology(fromPort?: number): Promise<TopologyNode[]>;
  /** The live master serving `slot` and its replica. */
  shardOf(slot: number, fromPort?: number): Promise<{ master: TopologyNode; replica: TopologyNode }>;
  /** Every live node says cluster_state:ok, sees the same master for every slot range, and each live replica's link is up. */
  waitHealthy(ms?: number): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function cli(port: number, args: string[], ms = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: ms, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli -p ${port} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

function parseNodes(text: string): TopologyNode[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.split(' ');
      const port = Number(address.split('@')[0].split(':').pop());
      return {
        id,
        port,
        role: flags.includes('master') ? ('master' as const) : ('replica' as const),
        masterId: master === '-' ? undefined : master,
        failed: /fail|noaddr/.test(flags),
        slots: slots.filter((s) => /^\d/.test(s)).map((s) => (s.includes('-') ? (s.split('-').map(Number) as [number, number]) : ([Number(s), Number(s)] as [number, number]))),
      };
    });
}

export async function startThrowawayCluster(): Promise<ThrowawayCluster> {
  const dir = throwawayDir('tether-redis-cluster-');
  const children = new Map<number, ChildProcess>();
  const stopped = new Set<number>();
  const ports: number[] = [];
  const taken = new Set<number>();
  const port = async () => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) {
        taken.add(p);
        return p;
      }
    }
  };
  const args = new Map<number, string[]>();
  const boot = async (p: number) => {
    const child = launch(REDIS_SERVER, args.get(p)!, join(dir, `stdout-${p}.log`));
    children.set(p, child);
    await until(`redis-server --cluster-enabled on ${p}`, 20_000, () => redisAnswers(p), child, join(dir, `redis-${p}.log`));
  };
  const stopAll = async () => {
    for (const [p, child] of children) if (stopped.has(p)) child.kill('SIGCONT');
    await Promise.allSettled([...children.values()].map((child) => terminate(child, 'SIGKILL')));
    removeDir(dir);
  };
  try {
    for (let i = 0; i < 6; i++) {
      const p = await port();
      const bus = await port();
      const logFile = join(dir, `redis-${p}.log`);
      args.set(p, [
        '--port', String(p), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-port', String(bus),
        '--cluster-config-file', join(dir, `nodes-${p}.conf`), '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
        '--dir', dir, '--dbfilename', `dump-${p}.rdb`, '--save', '', '--appendonly', 'no', '--logfile', logFile,
      ]);
      ports.push(p);
      await boot(p);
    }
    await cli(ports[0], ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'], 60_000);
  } catch (err) {
    await stopAll();
    throw err;
  }

  const live = () => ports.filter((p) => !stopped.has(p) && children.get(p)?.exitCode === null && children.get(p)?.signalCode === null);
  const topology = async (fromPort?: number) => parseNodes(await cli(fromPort ?? live()[0], ['cluster', 'nodes'], 5000));
  const cluster: ThrowawayCluster = {
    ports,
    nodesEnv: ports.map((p) => `127.0.0.1:${p}`).join(','),
    node: (p) => ({
      port: p,
      async kill() {
        const child = children.get(p);
        if (child) await terminate(child, 'SIGKILL');
      },
      start: () => boot(p),
      pause() {
        children.get(p)?.kill('SIGSTOP');
        stopped.add(p);
      },
      resume() {
        children.get(p)?.kill('SIGCONT');
        stopped.delete(p);
      },
    }),
    cli: (p, ...args) => cli(p, args, 60_000),
    readKey: (p, key) =>
      new Promise((resolve, reject) => {
        const child = execFile(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(p)], { timeout: 5000, killSignal: 'SIGKILL' }, (err, stdout) => {
          if (err) reject(err);
          else resolve(stdout.split('\n')[1] ?? '');
        });
        child.stdin?.end(`READONLY\nGET ${key}\n`);
      }),
    topology,
    async shardOf(slot, fromPort) {
      const nodes = await topology(fromPort);
      const master = nodes.find((n) => n.role === 'master' && !n.failed && n.slots.some(([from, to]) => from <= slot && slot <= to));
      if (!master) throw new Error(`no live master serves slot ${slot}`);
      const replica = nodes.find((n) => n.role === 'replica' && n.masterId === master.id && !n.failed);
      if (!replica) throw new Error(`the master on ${master.port} has no live replica`);
      return { master, replica };
    },
    async waitHealthy(ms = 30_000) {
      const deadline = Date.now() + ms;
      let last = '';
      while (Date.now() < deadline) {
        try {
          const views = await Promise.all(live().map(async (p) => ({ p, info: await cli(p, ['cluster', 'info'], 3000), nodes: await topology(p), repl: await cli(p, ['info', 'replication'], 3000) })));
          const ok = views.every((v) => v.info.includes('cluster_state:ok'));
          const owners = views.map((v) => JSON.stringify(v.nodes.filter((n) => n.role === 'master' && n.slots.length).map((n) => [n.port, n.slots]).sort()));
          const linked = views.every((v) => !v.repl.includes('role:slave') || v.repl.includes('master_link_status:up'));
          if (ok && new Set(owners).size === 1 && linked) return;
          last = views.map((v) => `${v.p}: ${v.info.split('\n')[0].trim()}`).join('; ');
        } catch (err) {
          last = (err as Error).message;
        }
        await sleep(100);
      }
      throw new Error(`the cluster is not healthy within ${ms} ms: ${last}`);
    },
    stop: stopAll,
  };
  try {
    await cluster.waitHealthy();
  } catch (err) {
    await stopAll();
    throw err;
  }
  return cluster;
}
