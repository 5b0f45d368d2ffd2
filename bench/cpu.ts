// CPU time per process, read from /proc while a scenario runs: the figure that stays stable on a shared
// machine (req/s moves with whatever else runs; the CPU a call costs does not). Each watched role is a
// set of processes found by a rule, re-read every SAMPLE_MS so that processes which start and end
// during the scenario (PostgreSQL backends) are counted too: a pid's CPU is its last reading minus its
// first (0 for a pid born during the run).
import { readdirSync, readFileSync } from 'node:fs';

const SAMPLE_MS = 250;
/** clock ticks per second (getconf CLK_TCK): 100 on Linux everywhere this runs. */
const TICK_US = 10_000;

export type Finder = () => number[];

/** utime + stime of one process, in microseconds; undefined when it is gone. */
export function cpuOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces, so fields are counted after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return undefined;
  }
}

/** Resident set size of one process, MB (VmRSS); undefined when it is gone. */
export function rssMbOf(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Math.round(Number(kb) / 1024);
  } catch {
    return undefined;
  }
}

function cmdlines(): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      out.push({ pid: Number(name), cmd: readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Fixed pids (a server, the load generator). */
export const pids = (...list: Array<number | undefined>): Finder => () => list.filter((p): p is number => p !== undefined);
/** The redis-server listening on this port (its process title names the address). */
export const redisOn = (port: number): Finder => () => cmdlines().filter((p) => p.cmd.startsWith('redis-server') && p.cmd.includes(`:${port}`)).map((p) => p.pid);
/** PostgreSQL backends connected to this database (their process title names it), whoever opened them. */
export const backendsOf = (database: string): Finder => () =>
  cmdlines().filter((p) => p.cmd.startsWith('postgres: ') && p.cmd.split(' ').includes(database)).map((p) => p.pid);
/** PostgreSQL's own background processes (WAL writer, checkpointer...): shared by every database on the server. */
export const postgresBackground: Finder = () =>
  cmdlines().filter((p) => /^postgres: (?:\S+: )?(walwriter|checkpointer|background writer|autovacuum)/.test(p.cmd)).map((p) => p.pid);

export interface CpuWatch {
  /** Microseconds of CPU per role since the watch began, and the wall time it covered. */
  stop(): { wallUs: number; cpuUs: Record<string, number> };
}

export function watchCpu(roles: Record<string, Finder>): CpuWatch {
  const first = new Map<string, Map<number, number>>();
  const last = new Map<string, Map<number, number>>();
  const sample = (initial: boolean) => {
    for (const [role, find] of Object.entries(roles)) {
      const f = first.get(role) ?? new Map<number, number>();
      const l = last.get(role) ?? new Map<number, number>();
      first.set(role, f);
      last.set(role, l);
      for (const pid of find()) {
        const cpu = cpuOf(pid);
        if (cpu === undefined) continue;
        if (!f.has(pid)) f.set(pid, initial ? cpu : 0);
        l.set(pid, cpu);
      }
    }
  };
  const started = performance.now();
  sample(true);
  const timer = setInterval(() => sample(false), SAMPLE_MS);
  return {
    stop() {
      clearInterval(timer);
      sample(false);
      const cpuUs: Record<string, number> = {};
      for (const role of Object.keys(roles)) {
        let sum = 0;
        for (const [pid, end] of last.get(role)!) sum += end - (first.get(role)!.get(pid) ?? 0);
        cpuUs[role] = sum;
      }
      return { wallUs: (performance.now() - started) * 1000, cpuUs };
    },
  };
}
