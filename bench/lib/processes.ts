import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * CPU time and resident memory of a process and everything it started (an edge's cluster workers),
 * from /proc. Per-stage cost in the suite is events / CPU-seconds of that stage's processes, which
 * is what "events per second per core" means on a machine the load shares.
 */
const clockTicksPerSecond = 100; // USER_HZ: 100 on every Linux architecture Node.js supports

interface Stat {
  readonly ppid: number;
  readonly cpuSeconds: number;
}

function readStat(pid: number): Stat | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      ppid: Number(fields[1]),
      cpuSeconds: (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond,
    };
  } catch {
    return null;
  }
}

/** The process and its descendants. */
export function processTree(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat) parents.set(pid, stat.ppid);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === tree[i]) tree.push(pid);
  }
  return tree;
}

export function treeCpuSeconds(root: number): number {
  return processTree(root).reduce((sum, pid) => sum + (readStat(pid)?.cpuSeconds ?? 0), 0);
}

/** CPU seconds the whole machine spent busy (all but idle and iowait) and in all, summed over its cores. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const ticks = fields.slice(0, 8).map(Number);
  const total = ticks.reduce((sum, t) => sum + t, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busy: (total - idle) / clockTicksPerSecond, total: total / clockTicksPerSecond };
}

export function treeRssBytes(root: number): number {
  let total = 0;
  for (const pid of processTree(root)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      // gone between the listing and the read
    }
  }
  return total;
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Processes whose command line contains `needle`, found by reading /proc. */
function pidsByCommandLine(needle: string): number[] {
  return readdirSync('/proc')
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 0 && commandLine(pid).includes(needle));
}

/**
 * The local platform's broker and origin processes: from the pid files `sentinel stack up` writes,
 * checked against the process's command line (a stale file may name a pid reused by something
 * else); failing that, the java process whose command line runs that broker's server.properties.
 * The brokers' CPU is part of every delivered message's cost: three replicas on this one machine.
 */
export function platformPids(stateDir: string): { kafka: number[]; origin: number[] } {
  const pidFrom = (file: string, needle: string): number[] => {
    try {
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && commandLine(pid).includes(needle)) return [pid];
    } catch {
      // no pid file: look for the process itself
    }
    return pidsByCommandLine(needle).slice(0, 1);
  };
  return {
    kafka: [1, 2, 3].flatMap((n) => {
      const dir = join(stateDir, 'kafka', `broker-${n}`);
      return pidFrom(join(dir, 'broker.pid'), join(dir, 'server.properties'));
    }),
    origin: pidFrom(join(stateDir, 'origin', 'mosquitto.pid'), join(stateDir, 'origin', 'mosquitto.conf')),
  };
}
