import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupCommitter } from './group-commit.js';

function deferred<T>() {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('group commit', () => {
  it('puts chunks submitted together in one transaction, and those arriving meanwhile in the next', async () => {
    const runs: string[][] = [];
    const gates: Array<ReturnType<typeof deferred<boolean>>> = [];
    let inFlight = 0;
    const committer = new GroupCommitter<string>(async (items) => {
      inFlight += 1;
      assert.equal(inFlight, 1, 'transactions of a group never overlap');
      runs.push([...items]);
      const gate = deferred<boolean>();
      gates.push(gate);
      const ok = await gate.promise;
      inFlight -= 1;
      return ok;
    });
    const first = [committer.submit('p0'), committer.submit('p3')];
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(runs, [['p0', 'p3']]);
    const second = [committer.submit('p6'), committer.submit('p9')];
    await new Promise((r) => setImmediate(r));
    assert.equal(runs.length, 1, 'waits for the transaction in flight');
    gates[0]?.resolve(true);
    assert.deepEqual(await Promise.all(first), [true, true]);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(runs[1], ['p6', 'p9']);
    gates[1]?.resolve(true);
    assert.deepEqual(await Promise.all(second), [true, true]);
  });

  it('after a failed transaction everything waiting fails and nothing commits again', async () => {
    const gate = deferred<boolean>();
    let runs = 0;
    const committer = new GroupCommitter<number>(async () => {
      runs += 1;
      return gate.promise;
    });
    const failing = committer.submit(1);
    await new Promise((r) => setImmediate(r));
    const waiting = committer.submit(2);
    gate.resolve(false);
    assert.equal(await failing, false);
    assert.equal(await waiting, false);
    assert.equal(await committer.submit(3), false);
    assert.equal(runs, 1);
    assert.equal(committer.open, false);
  });

  it('a throw counts as a failure', async () => {
    const committer = new GroupCommitter<number>(async () => {
      throw new Error('fenced');
    });
    assert.equal(await committer.submit(1), false);
    assert.equal(committer.open, false);
  });

  it('close lets the transaction in flight finish; what waits fails', async () => {
    const gate = deferred<boolean>();
    const committer = new GroupCommitter<number>(async () => gate.promise);
    const inFlight = committer.submit(1);
    await new Promise((r) => setImmediate(r));
    const waiting = committer.submit(2);
    const closed = committer.close();
    gate.resolve(true);
    await closed;
    assert.equal(await inFlight, true);
    assert.equal(await waiting, false);
    assert.equal(await committer.submit(3), false);
  });
});

describe('group commit waits for announced chunks', () => {
  it('a transaction waits for the chunks still being inspected and carries them', async () => {
    const runs: number[][] = [];
    const committer = new GroupCommitter<number>(async (items) => {
      runs.push([...items]);
      return true;
    });
    const a = committer.begin();
    const b = committer.begin();
    const first = a.submit(0);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(runs, [], 'waits while partition 3 is inspecting');
    const second = b.submit(3);
    assert.deepEqual(await Promise.all([first, second]), [true, true]);
    assert.deepEqual(runs, [[0, 3]]);
  });

  it('an abandoned chunk releases the wait; a ticket is used once', async () => {
    const runs: number[][] = [];
    const committer = new GroupCommitter<number>(async (items) => {
      runs.push([...items]);
      return true;
    });
    const a = committer.begin();
    const b = committer.begin();
    const first = a.submit(1);
    b.abandon();
    assert.equal(await first, true);
    assert.deepEqual(runs, [[1]]);
    assert.throws(() => b.abandon());
  });

  it('close does not wait for chunks still being inspected', async () => {
    const committer = new GroupCommitter<number>(async () => true);
    const a = committer.begin();
    committer.begin();
    const first = a.submit(1);
    await committer.close();
    assert.equal(await first, false);
  });
});
