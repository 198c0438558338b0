/**
 * Keyed state of one step (per client id or per source address). Values are plain JSON data so
 * that a runtime can write every change to a compacted changelog topic (key -> JSON, null is a
 * tombstone) and rebuild the store from it after a restart or rebalance.
 */
export interface StateStore<T> {
  readonly name: string;
  get(key: string): T | undefined;
  put(key: string, value: T): void;
  delete(key: string): void;
  size(): number;
  entries(): IterableIterator<[string, T]>;
  /** Changes since the last call, oldest first, one per key; the runtime commits them with the offsets. */
  takeChanges(): StateChange[];
  /** Applies a changelog record while restoring; does not count as a change. */
  restore(change: StateChange): void;
  /** Counts a key as changed again (its changes were taken but not committed); takes its current value. */
  markChanged(key: string): void;
}

export interface StateChange {
  readonly key: string;
  /** JSON text of the value; null deletes the key. */
  readonly value: string | null;
}

export interface MemoryStateStoreOptions {
  /**
   * Entries kept before the least recently written is evicted. Bounds memory against many client
   * ids or source addresses; an evicted device simply warms up again.
   */
  readonly maxEntries: number;
}

export class MemoryStateStore<T> implements StateStore<T> {
  readonly name: string;
  private readonly values = new Map<string, T>();
  private readonly changed = new Set<string>();
  private readonly maxEntries: number;

  constructor(name: string, options: MemoryStateStoreOptions = { maxEntries: 1_000_000 }) {
    this.name = name;
    this.maxEntries = options.maxEntries;
  }

  get(key: string): T | undefined {
    return this.values.get(key);
  }

  put(key: string, value: T): void {
    // Re-inserting moves the key to the end of the Map's order, which makes the first key the least recent.
    this.values.delete(key);
    this.values.set(key, value);
    this.changed.add(key);
    if (this.values.size > this.maxEntries) {
      const oldest = this.values.keys().next().value;
      if (oldest !== undefined) this.delete(oldest);
    }
  }

  delete(key: string): void {
    this.values.delete(key);
    this.changed.add(key);
  }

  size(): number {
    return this.values.size;
  }

  entries(): IterableIterator<[string, T]> {
    return this.values.entries();
  }

  takeChanges(): StateChange[] {
    const changes: StateChange[] = [];
    for (const key of this.changed) {
      const value = this.values.get(key);
      changes.push({ key, value: value === undefined ? null : JSON.stringify(value) });
    }
    this.changed.clear();
    return changes;
  }

  markChanged(key: string): void {
    this.changed.add(key);
  }

  restore(change: StateChange): void {
    if (change.value === null) this.values.delete(change.key);
    else {
      this.values.delete(change.key);
      this.values.set(change.key, JSON.parse(change.value) as T);
    }
  }
}

/** The stores of one topology: `<step>.device` keyed by client id, `<step>.source` keyed by source address. */
export type StoreFactory = (name: string) => StateStore<unknown>;

export function memoryStoreFactory(maxEntries = 1_000_000): StoreFactory {
  return (name) => new MemoryStateStore<unknown>(name, { maxEntries });
}
