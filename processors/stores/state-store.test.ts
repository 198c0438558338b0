import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStateStore, type StateStore } from './state-store.js';

/**
 * Contract every StateStore implementation passes; the Kafka-backed store runs the same function
 * with its own factory.
 */
export function stateStoreContract(name: string, create: () => StateStore<{ count: number }>): void {
  test(`${name}: get returns what put stored, undefined for unknown keys`, () => {
    const store = create();
    store.put('d1', { count: 1 });
    assert.deepEqual(store.get('d1'), { count: 1 });
    assert.equal(store.get('nobody'), undefined);
  });

  test(`${name}: takeChanges lists each written key once as JSON, deletes as null, then empties`, () => {
    const store = create();
    store.put('d1', { count: 1 });
    store.put('d1', { count: 2 });
    store.put('d2', { count: 5 });
    store.delete('d2');
    assert.deepEqual(store.takeChanges(), [
      { key: 'd1', value: '{"count":2}' },
      { key: 'd2', value: null },
    ]);
    assert.deepEqual(store.takeChanges(), []);
  });

  test(`${name}: a store restored from another's changes holds the same state`, () => {
    const first = create();
    first.put('d1', { count: 7 });
    first.put('d2', { count: 1 });
    first.delete('d2');
    const second = create();
    for (const change of first.takeChanges()) second.restore(change);
    assert.deepEqual(second.get('d1'), { count: 7 });
    assert.equal(second.get('d2'), undefined);
    assert.deepEqual(second.takeChanges(), [], 'restoring is not a change');
  });
}

stateStoreContract('MemoryStateStore', () => new MemoryStateStore('test'));

test('MemoryStateStore evicts the least recently written key beyond maxEntries', () => {
  const store = new MemoryStateStore<number>('bounded', { maxEntries: 2 });
  store.put('a', 1);
  store.put('b', 2);
  store.put('a', 3);
  store.put('c', 4);
  assert.deepEqual(
    [...store.entries()].map(([k]) => k),
    ['a', 'c'],
  );
  assert.equal(store.size(), 2);
});
