import type { PacketEvent, PacketRef, Verdict } from '../model.js';
import type { AnyStep } from '../step.js';
import { memoryStoreFactory, type StateStore, type StoreFactory } from '../stores/state-store.js';
import { type ChainOutput, ChainRunner } from './chain.js';

/**
 * Test driver (Kafka Streams' TopologyTestDriver idea): runs a chain over events with no broker,
 * a clock the test sets, the state stores open for inspection, and the outputs collected in order.
 */
export interface MemoryRuntimeOptions {
  readonly steps: readonly AnyStep[];
  /** Processing-clock start, epoch ms. */
  readonly startAt?: number;
  readonly createStore?: StoreFactory;
  /** Topic name put in packet references. */
  readonly inputTopic?: string;
}

export class MemoryRuntime {
  readonly verdicts: Verdict[] = [];
  readonly approved: PacketEvent[] = [];
  private readonly runner: ChainRunner;
  private readonly inputTopic: string;
  private clock: number;
  private nextOffset = 0n;

  constructor(options: MemoryRuntimeOptions) {
    this.clock = options.startAt ?? 0;
    this.inputTopic = options.inputTopic ?? 'sentinel.packets';
    this.runner = new ChainRunner(options.steps, options.createStore ?? memoryStoreFactory());
    this.runner.init(() => this.clock);
  }

  now(): number {
    return this.clock;
  }

  setTime(epochMs: number): void {
    this.clock = epochMs;
  }

  advanceTime(ms: number): void {
    this.clock += ms;
  }

  /** Runs one event through the chain as the next record of partition 0. */
  pipe(event: PacketEvent): ChainOutput {
    const packetRef: PacketRef = { topic: this.inputTopic, partition: 0, offset: String(this.nextOffset) };
    this.nextOffset += 1n;
    const output = this.runner.process(event, packetRef, () => this.clock);
    this.verdicts.push(...output.verdicts);
    this.approved.push(...output.approved);
    return output;
  }

  pipeAll(events: Iterable<PacketEvent>): ChainOutput[] {
    const outputs: ChainOutput[] = [];
    for (const event of events) outputs.push(this.pipe(event));
    return outputs;
  }

  store(name: string): StateStore<unknown> {
    const store = this.runner.stores.get(name);
    if (!store) throw new Error(`no store ${name}; stores: ${[...this.runner.stores.keys()].join(', ')}`);
    return store;
  }

  storeNames(): string[] {
    return [...this.runner.stores.keys()];
  }

  close(): void {
    this.runner.close();
  }
}
