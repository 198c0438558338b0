import { spawnSync } from 'node:child_process';
import { readFileSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { StackConfig } from '../lib/local-platform.js';
import { projectRoot } from '../lib/local-platform.js';
import type { ComponentStatus } from '../platform/component-status.js';
import { nodeRuntimeRefusal } from './node-runtime.js';

/** One finding of `sentinel doctor`: what was checked, how it stands, and the command that fixes it. */
export interface Finding {
  readonly check: string;
  readonly status: 'ok' | 'warn' | 'fail';
  readonly detail: string;
  readonly fix?: string;
}

/** A TCP port some setting of the platform names, with its current value. */
export interface PlatformPort {
  readonly setting: string;
  readonly port: number;
}

/** Who listens on a port: a process, its pid and command line. */
export interface Listener {
  readonly pid: number | undefined;
  readonly command: string;
}

/** What the doctor looks at; the real machine in `machineProbes`, anything in its tests. */
export interface DoctorProbes {
  nodeVersion(): { version: string; execPath: string };
  /** `scripts/setup-system.mjs --check`: its exit code and what it printed. */
  systemPackages(): { code: number; output: string };
  stack(): Promise<ComponentStatus[]>;
  listenerOn(port: number): Listener | undefined;
  freeBytes(path: string): number;
  openFileLimit(): number;
}

const giB = 2 ** 30;
/** Kafka keeps 72 h of every topic; below this the brokers stop accepting writes before long. */
const diskFailBytes = 1 * giB;
const diskWarnBytes = 5 * giB;
/** The edge holds a file per connection; the idle-connection figures assume this many. */
const openFilesWanted = 20_000;

/** A process of this project (the platform's own services and CLI), whatever port it holds. */
function isOurs(listener: Listener): boolean {
  return /dist\/cli\/main\.js|kafka\.Kafka|apicurio|mosquitto|prometheus/.test(listener.command);
}

export async function diagnose(
  config: StackConfig,
  ports: readonly PlatformPort[],
  probes: DoctorProbes,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const { version, execPath } = probes.nodeVersion();
  const refusal = nodeRuntimeRefusal(version, execPath);
  findings.push(
    refusal
      ? {
          check: 'Node',
          status: 'fail',
          detail: `Node ${version}: too old`,
          fix: 'npm ci, then run through npm (npm start, npx sentinel ...)',
        }
      : { check: 'Node', status: 'ok', detail: `Node ${version}` },
  );

  const packages = probes.systemPackages();
  const command = packages.output
    .split('\n')
    .find((line) => /apt-get install/.test(line))
    ?.trim();
  const missing = packages.output
    .split('\n')
    .filter((line) => line.startsWith('setup: missing'))
    .map((line) => line.replace(/^setup: missing /, ''));
  findings.push(
    packages.code === 0 && missing.length === 0
      ? { check: 'system packages', status: 'ok', detail: 'every package the platform needs is installed' }
      : {
          check: 'system packages',
          status: packages.code === 0 ? 'warn' : 'fail',
          detail: missing.join('; ') || packages.output.trim(),
          ...(command ? { fix: command } : {}),
        },
  );

  const components = await probes.stack();
  const stackUp = components.some((c) => c.managed && c.healthy);
  for (const component of components) {
    if (component.healthy) {
      findings.push({
        check: component.name,
        status: 'ok',
        detail: `${component.address}: ${component.detail}`,
      });
      continue;
    }
    const machine = !component.managed && (component.name === 'redis' || component.name === 'device-db');
    const fix =
      component.name === 'redis'
        ? 'redis-server --daemonize yes (or: service redis-server start)'
        : component.name === 'device-db'
          ? 'service mariadb start (then: npx sentinel stack up creates the tables)'
          : stackUp
            ? `npx sentinel stack up (restarts ${component.name}; its log: ${join(config.stateDir, 'logs')})`
            : 'npx sentinel stack up (or npm start)';
    findings.push({
      check: component.name,
      status: machine ? 'fail' : stackUp ? 'fail' : 'warn',
      detail: `${component.address}: ${component.detail}`,
      fix,
    });
  }

  for (const { setting, port } of ports) {
    const listener = probes.listenerOn(port);
    if (!listener || isOurs(listener)) continue;
    findings.push({
      check: `port ${port}`,
      status: 'fail',
      detail: `${setting} is ${port}, taken by ${listener.command || 'a process'}${listener.pid ? ` (pid ${listener.pid})` : ''}`,
      fix: `stop that process, or choose another port: ${setting}=<port>`,
    });
  }

  const free = probes.freeBytes(config.stateDir);
  const freeText = `${(free / giB).toFixed(1)} GiB free under ${config.stateDir}`;
  findings.push(
    free < diskFailBytes
      ? {
          check: 'disk',
          status: 'fail',
          detail: freeText,
          fix: 'free disk space, or move SENTINEL_STATE_DIR to a larger disk',
        }
      : free < diskWarnBytes
        ? {
            check: 'disk',
            status: 'warn',
            detail: `${freeText}: Kafka keeps 72 h of every topic`,
            fix: 'free disk space, or move SENTINEL_STATE_DIR',
          }
        : { check: 'disk', status: 'ok', detail: freeText },
  );

  const files = probes.openFileLimit();
  findings.push(
    files < openFilesWanted
      ? {
          check: 'open files',
          status: 'warn',
          detail: `a process may open ${files} files: an edge process holds one per connection`,
          fix: `ulimit -n ${openFilesWanted} (or LimitNOFILE= in the service unit), or more edge workers (SENTINEL_INGEST_WORKERS)`,
        }
      : { check: 'open files', status: 'ok', detail: `${files} per process` },
  );
  return findings;
}

/** The listening sockets of the machine, by port, from `ss` (iproute2). */
function listeners(): Map<number, Listener> {
  const found = new Map<number, Listener>();
  const ss = spawnSync('ss', ['-Hltnp'], { encoding: 'utf8' });
  for (const line of (ss.stdout ?? '').split('\n')) {
    // State Recv-Q Send-Q Local-Address:Port Peer-Address:Port Process
    const local = line.trim().split(/\s+/)[3] ?? '';
    const port = Number(local.slice(local.lastIndexOf(':') + 1));
    if (!Number.isInteger(port) || port === 0 || found.has(port)) continue;
    const pid = Number(/pid=(\d+)/.exec(line)?.[1]) || undefined;
    let command = /users:\(\("([^"]+)"/.exec(line)?.[1] ?? '';
    if (pid) {
      try {
        command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim() || command;
      } catch {
        // Gone since ss listed it.
      }
    }
    found.set(port, { pid, command });
  }
  return found;
}

export function machineProbes(stack: () => Promise<ComponentStatus[]>): DoctorProbes {
  let listening: Map<number, Listener> | undefined;
  return {
    nodeVersion: () => ({ version: process.versions.node, execPath: process.execPath }),
    systemPackages: () => {
      const result = spawnSync(
        process.execPath,
        [join(projectRoot, 'scripts', 'setup-system.mjs'), '--check'],
        {
          encoding: 'utf8',
        },
      );
      return { code: result.status ?? 1, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
    },
    stack,
    listenerOn: (port) => {
      listening ??= listeners();
      return listening.get(port);
    },
    freeBytes: (path) => {
      try {
        const stats = statfsSync(path);
        return stats.bavail * stats.bsize;
      } catch {
        const stats = statfsSync(projectRoot);
        return stats.bavail * stats.bsize;
      }
    },
    openFileLimit: () =>
      Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim()) || 0,
  };
}
