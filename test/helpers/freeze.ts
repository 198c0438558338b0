import { spawn } from 'node:child_process';

/**
 * Processes a fault test stops with SIGSTOP (a broker in a long GC pause or behind a stalled disk:
 * it neither answers nor fails). Each gets a detached watchdog that sends SIGCONT after
 * `watchdogSeconds`, so a test process that dies before thawing never leaves a broker frozen.
 */
export class FrozenProcesses {
  readonly #frozen = new Map<number, number | undefined>(); // pid -> watchdog pid
  readonly #watchdogSeconds: number;

  constructor(watchdogSeconds = 90) {
    this.#watchdogSeconds = watchdogSeconds;
    process.once('exit', () => this.thawAll());
  }

  freeze(pid: number): void {
    const watchdog = spawn('sh', ['-c', `sleep ${this.#watchdogSeconds}; kill -CONT ${pid}`], {
      detached: true,
      stdio: 'ignore',
    });
    watchdog.unref();
    this.#frozen.set(pid, watchdog.pid);
    process.kill(pid, 'SIGSTOP');
  }

  thawAll(): void {
    for (const [pid, watchdog] of this.#frozen) {
      signal(pid, 'SIGCONT');
      if (watchdog !== undefined) signal(watchdog, 'SIGKILL');
    }
    this.#frozen.clear();
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone: a broker that died is reported by the test's own cluster check.
  }
}
