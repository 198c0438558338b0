import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SentinelError } from '../lib/errors.js';

/**
 * Background processes the stack starts itself. Each has a pid file; `down` stops only processes
 * whose pid file this stack wrote, so services the machine runs (its Redis, MariaDB, Mosquitto on
 * 1883) are never touched.
 */
export interface ManagedProcess {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly pidFile: string;
  readonly logFile: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The pid of a process this stack started and that still runs. */
export function runningPid(proc: Pick<ManagedProcess, 'pidFile'>): number | undefined {
  const pid = readPid(proc.pidFile);
  return pid !== undefined && isAlive(pid) ? pid : undefined;
}

export function startDetached(proc: ManagedProcess): number {
  mkdirSync(dirname(proc.pidFile), { recursive: true });
  mkdirSync(dirname(proc.logFile), { recursive: true });
  const log = openSync(proc.logFile, 'a');
  try {
    const child = spawn(proc.command, proc.args, {
      cwd: proc.cwd,
      env: { ...process.env, ...proc.env },
      detached: true,
      stdio: ['ignore', log, log],
    });
    if (child.pid === undefined) {
      throw new SentinelError('SNT_COMPONENT_START_FAILED', `${proc.name}: could not spawn ${proc.command}`);
    }
    child.unref();
    writeFileSync(proc.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** SIGTERM, then SIGKILL after the grace period; removes the pid file. */
export async function stopProcess(proc: Pick<ManagedProcess, 'pidFile'>, graceMs = 20_000): Promise<boolean> {
  const pid = readPid(proc.pidFile);
  if (pid === undefined || !isAlive(pid)) {
    rmSync(proc.pidFile, { force: true });
    return false;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(50);
  }
  rmSync(proc.pidFile, { force: true });
  return true;
}

export function tcpReachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Polls `check` until it returns true; throws naming what it waited for, with the log to read. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; logFile?: string; alive?: () => boolean },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (options.alive && !options.alive()) {
      throw new SentinelError(
        'SNT_COMPONENT_START_FAILED',
        `${what}: the process exited while starting${options.logFile ? `; see ${options.logFile}` : ''}`,
      );
    }
    if (Date.now() > deadline) {
      throw new SentinelError(
        'SNT_COMPONENT_START_FAILED',
        `${what}: not ready after ${Math.round(options.timeoutMs / 1000)} s${options.logFile ? `; see ${options.logFile}` : ''}`,
      );
    }
    await sleep(options.intervalMs ?? 250);
  }
}

/** The first local port the kernel gives outgoing connections (Linux), if it can be read. */
function ephemeralPortsFrom(): number | undefined {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return low > 0 ? low : undefined;
  } catch {
    return undefined;
  }
}

/** Above every fixed port of the local platform (11883-28083 and the brokers' 19192-19194). */
const privatePortsFrom = 29_000;

async function bindable(port: number): Promise<number | undefined> {
  const server = createServer();
  server.listen(port, '127.0.0.1');
  const bound = await Promise.race([
    once(server, 'listening').then(() => true),
    once(server, 'error').then(() => false),
  ]);
  const address = server.address();
  if (bound) await new Promise<void>((resolve) => server.close(() => resolve()));
  return bound && address !== null && typeof address !== 'string' ? address.port : undefined;
}

/**
 * A port nothing listens on right now, for a process started next to bind. Drawn between the local
 * platform's fixed ports and the kernel's range for outgoing connections' local ports: a port from
 * that range, once released, can be taken by any client connecting meanwhile (a Kafka client, a
 * browser), and the process would then fail with EADDRINUSE (seen once in CI: the forensic sink).
 */
export async function freePort(): Promise<number> {
  const low = ephemeralPortsFrom() ?? 0;
  if (low > privatePortsFrom + 1000) {
    for (let attempt = 0; attempt < 20; attempt++) {
      const port = await bindable(privatePortsFrom + Math.floor(Math.random() * (low - privatePortsFrom)));
      if (port !== undefined) return port;
    }
  }
  const port = await bindable(0);
  if (port === undefined) throw new Error('no free port on 127.0.0.1');
  return port;
}
