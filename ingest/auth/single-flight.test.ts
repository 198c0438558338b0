import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SingleFlight } from './single-flight.js';

/** A promise the test settles by hand: no timers. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SingleFlight', () => {
  it('runs concurrent calls for one key once and gives all of them the result', async () => {
    let joined = 0;
    const flight = new SingleFlight<string>(() => joined++);
    const gate = deferred<string>();
    let runs = 0;
    const work = () => {
      runs++;
      return gate.promise;
    };
    const calls = [flight.run('k', work), flight.run('k', work), flight.run('k', work)];
    assert.equal(flight.size, 1);
    gate.resolve('row');
    assert.deepEqual(await Promise.all(calls), ['row', 'row', 'row']);
    assert.deepEqual([runs, joined, flight.size], [1, 2, 0]);
  });

  it('keeps keys apart', async () => {
    const flight = new SingleFlight<string>();
    const [a, b] = await Promise.all([flight.run('a', async () => 'A'), flight.run('b', async () => 'B')]);
    assert.deepEqual([a, b], ['A', 'B']);
  });

  it('shares a failure with the calls waiting for it, and starts afresh afterwards', async () => {
    const flight = new SingleFlight<string>();
    const gate = deferred<string>();
    const first = flight.run('k', () => gate.promise);
    const second = flight.run('k', () => Promise.resolve('never'));
    gate.reject(new Error('db down'));
    await assert.rejects(first, /db down/);
    await assert.rejects(second, /db down/);
    assert.equal(await flight.run('k', async () => 'fresh'), 'fresh');
  });

  it('a synchronous throw is a rejection and leaves nothing behind', async () => {
    const flight = new SingleFlight<string>();
    await assert.rejects(
      flight.run('k', () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(flight.size, 0);
  });

  it('after forget, later calls start afresh while the earlier ones keep their result', async () => {
    const flight = new SingleFlight<string>();
    const old = deferred<string>();
    const early = flight.run('dev-1\u0000t', () => old.promise);
    flight.forget((key) => key.startsWith('dev-1\u0000'));
    const late = flight.run('dev-1\u0000t', async () => 'after revocation');
    old.resolve('before revocation');
    assert.equal(await early, 'before revocation');
    assert.equal(await late, 'after revocation');
    assert.equal(flight.size, 0);
  });
});
