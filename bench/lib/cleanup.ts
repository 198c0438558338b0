import { processTree } from './processes.js';

/**
 * What a scenario started, undone however it ends: normally, on an error, on SIGINT / SIGTERM, or
 * when the suite that ran it goes away (its IPC channel closes). Each thing is registered as soon
 * as it exists (a topic when created, a process when spawned) and undone last-in first-out; then
 * any process still below the scenario's own is stopped by its pid. A bench that fails half-way
 * leaves no service running, no topic, group, database or temp dir behind.
 */
export class ScenarioCleanup {
  private readonly undo: Array<{ readonly what: string; readonly run: () => Promise<unknown> | unknown }> =
    [];
  private running: Promise<void> | null = null;

  constructor(private readonly scenario: string) {}

  /** Registers how to undo `what`; runs at once if the cleanup has already begun. */
  add(what: string, run: () => Promise<unknown> | unknown): void {
    if (this.running) {
      void Promise.resolve()
        .then(run)
        .catch(() => undefined);
      return;
    }
    this.undo.push({ what, run });
  }

  get started(): boolean {
    return this.running !== null;
  }

  /** Undoes everything once (later calls wait for the first); failures are reported, not thrown. */
  run(reason: string): Promise<void> {
    this.running ??= (async () => {
      if (reason !== 'done')
        console.error(`${this.scenario}: ${reason}; stopping and removing what it started`);
      for (const { what, run } of this.undo.reverse()) {
        try {
          await run();
        } catch (err) {
          console.error(`${this.scenario}: could not undo ${what}: ${(err as Error).message}`);
        }
      }
      const left = await stopDescendants();
      if (left.length > 0)
        console.error(
          `${this.scenario}: stopped ${left.length} process(es) still running: ${left.join(', ')}`,
        );
    })();
    return this.running;
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Every process below this one, by pid: SIGTERM, then SIGKILL after 5 s. Returns the pids it found. */
async function stopDescendants(): Promise<number[]> {
  const found = processTree(process.pid).filter((pid) => pid !== process.pid);
  for (const pid of found) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 5000;
  while (found.some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  for (const pid of found.filter(alive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/**
 * Runs a scenario's body with its cleanup and exits: 0 when it finished, 1 on an error, 130 / 143
 * on SIGINT / SIGTERM, 1 when the suite that started it is gone. A second signal during the
 * cleanup does not cut it short (the suite kills the scenario's process group if it takes too long).
 */
export function runWithCleanup(scenario: string, body: (cleanup: ScenarioCleanup) => Promise<void>): void {
  const cleanup = new ScenarioCleanup(scenario);
  const finish = (reason: string, code: number) => {
    if (cleanup.started) {
      console.error(`${scenario}: ${reason} during cleanup; still cleaning up`);
      return;
    }
    void cleanup.run(reason).finally(() => process.exit(code));
  };
  process.on('SIGINT', () => finish('interrupted (SIGINT)', 130));
  process.on('SIGTERM', () => finish('terminated (SIGTERM)', 143));
  if (process.channel) {
    // Started by the suite: if the suite dies, so does this run, cleanly. The channel alone must not
    // keep the process alive.
    process.on('disconnect', () => finish('the suite that started it is gone', 1));
    process.channel.unref();
  }
  body(cleanup).then(
    () => {
      if (!cleanup.started) finish('done', 0);
    },
    (err: unknown) => {
      // After a signal, the body fails because its services went away: that is not news.
      if (cleanup.started) return;
      console.error(
        `${scenario}: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
      );
      finish('failed', 1);
    },
  );
}

/**
 * TESTS ONLY: the scenario fails at the named point when SENTINEL_BENCH_TEST_FAIL_AT says so, which
 * is how test/integration/bench.test.ts proves that a failed run leaves nothing behind without
 * having to break a real component.
 */
export function failHereInTests(point: string): void {
  if (process.env.SENTINEL_BENCH_TEST_FAIL_AT === point)
    throw new Error(`failing at "${point}" as SENTINEL_BENCH_TEST_FAIL_AT asks (tests only)`);
}
