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

/** A port nothing listens on right now (bound on 127.0.0.1 port 0, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no free port on 127.0.0.1');
  return address.port;
}
