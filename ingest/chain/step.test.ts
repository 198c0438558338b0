import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type FlowHost, pauseUntil, proceed, runFlow, type Step, stop } from './step.js';

/** A host that records what the flow asked of it; pauses are awaited by the test. */
function recordingHost() {
  const pauses: Promise<unknown>[] = [];
  const failures: Array<{ message: string; step: string }> = [];
  const host: FlowHost<string[]> = {
    pause: (until) => pauses.push(until),
    fail: (error, step) => failures.push({ message: (error as Error).message, step }),
  };
  return { host, pauses, failures };
}

function step(name: string, run: (trace: string[]) => ReturnType<Step<string[]>['run']>): Step<string[]> {
  return {
    name,
    run: (trace) => {
      trace.push(name);
      return run(trace);
    },
  };
}

describe('runFlow', () => {
  it('runs every step in order while each continues', () => {
    const trace: string[] = [];
    const { host, pauses } = recordingHost();
    runFlow([step('a', () => proceed), step('b', () => proceed), step('c', () => proceed)], trace, host);
    assert.deepEqual(trace, ['a', 'b', 'c']);
    assert.equal(pauses.length, 0);
  });

  it('runs nothing after a step that stops', () => {
    const trace: string[] = [];
    runFlow([step('a', () => stop), step('b', () => proceed)], trace, recordingHost().host);
    assert.deepEqual(trace, ['a']);
  });

  it('goes on after a pause only once its lookup settled, inside the pause', async () => {
    const trace: string[] = [];
    const { host, pauses } = recordingHost();
    let answer!: () => void;
    const lookup = new Promise<void>((resolve) => {
      answer = resolve;
    });
    runFlow([step('lookup', () => pauseUntil(lookup)), step('after', () => proceed)], trace, host);
    assert.deepEqual(trace, ['lookup']);
    assert.equal(pauses.length, 1);
    answer();
    await pauses[0];
    assert.deepEqual(trace, ['lookup', 'after'], 'the rest ran before the pause settled');
  });

  it('runs a step again after a pause that asks for it (a delay, then the same check)', async () => {
    const trace: string[] = [];
    const { host, pauses } = recordingHost();
    let delayed = false;
    const delay = step('delay', () => {
      if (delayed) return proceed;
      delayed = true;
      return pauseUntil(Promise.resolve(), 'again');
    });
    runFlow([delay, step('next', () => proceed)], trace, host);
    await pauses[0];
    assert.deepEqual(trace, ['delay', 'delay', 'next']);
  });

  it('a pause within a pause: each is handed to the host, so the connection stays blocked until the last', async () => {
    const trace: string[] = [];
    const { host, pauses } = recordingHost();
    runFlow(
      [
        step('first', () => pauseUntil(Promise.resolve())),
        step('second', () => pauseUntil(Promise.resolve())),
        step('done', () => stop),
      ],
      trace,
      host,
    );
    await pauses[0];
    assert.equal(pauses.length, 2);
    await pauses[1];
    assert.deepEqual(trace, ['first', 'second', 'done']);
  });

  it('a step that throws, or a lookup that fails, is reported with the step name and ends the flow', async () => {
    const trace: string[] = [];
    const { host, pauses, failures } = recordingHost();
    runFlow(
      [
        step('throws', () => {
          throw new Error('bug');
        }),
        step('never', () => proceed),
      ],
      trace,
      host,
    );
    runFlow(
      [step('lookup', () => pauseUntil(Promise.reject(new Error('down')))), step('never', () => proceed)],
      trace,
      host,
    );
    await pauses[0];
    assert.deepEqual(trace, ['throws', 'lookup']);
    assert.deepEqual(failures, [
      { message: 'bug', step: 'throws' },
      { message: 'down', step: 'lookup' },
    ]);
  });
});
