import { after } from 'node:test';

/** How long a test file may stay alive once its last hook finished before it is ended. */
const lingerAfterTeardownMs = 15_000;

function heldBy(): string {
  return process.getActiveResourcesInfo().join(', ') || 'nothing reported';
}

/**
 * Registers `teardown` as the suite's `after` hook, bounded, for tests that kill or stop brokers.
 * A hook that runs past `timeoutMs` fails the suite (naming the hook) instead of waiting for ever.
 * A Kafka client closed while a broker was down can keep a handle open for good (librdkafka retries
 * a group-coordinator lookup at close without end: confluentinc/librdkafka#3740), which keeps the
 * file's process, and with it the whole run, alive. If the process is still alive
 * `lingerAfterTeardownMs` after the hook, what holds it is written to stderr and the process ends.
 * The runner judges the file by the results it already reported (a failed test still fails the
 * run); the exit status itself may be 0, as the runner sets it only when the process runs dry.
 * One per test file: the timer ends the whole process.
 */
export function boundedTeardown(teardown: () => Promise<void>, timeoutMs: number): void {
  after(
    async () => {
      const stuck = setTimeout(() => {
        console.error(`teardown still running after ${timeoutMs + 30_000} ms; held by: ${heldBy()}`);
        process.exit(1);
      }, timeoutMs + 30_000);
      stuck.unref();
      try {
        await teardown();
      } finally {
        clearTimeout(stuck);
        setTimeout(() => {
          console.error(
            `test file still alive ${lingerAfterTeardownMs} ms after its teardown; held by: ${heldBy()}`,
          );
          process.exit();
        }, lingerAfterTeardownMs).unref();
      }
    },
    { timeout: timeoutMs },
  );
}
