import {
  encodeHistogram,
  type LatencyHistogram,
  latencyHistogram,
  monotonicMicros,
  recordMicros,
} from './histogram.js';
import { readPayloadHead } from './payload.js';

/**
 * The receiving end of every load run, whatever carries the messages (an MQTT subscriber, a Kafka
 * consumer): per run, which messages arrived, how many twice, and the latency from scheduled send
 * to receipt in an HdrHistogram. Sender and receiver read CLOCK_MONOTONIC, which all processes on
 * one machine share.
 */
export interface ArrivalReport {
  readonly received: number;
  readonly unique: number;
  readonly duplicates: number;
  readonly expected: number;
  /** Scheduled send -> receipt, encoded HdrHistogram. */
  readonly latency: string;
  readonly firstReceiptUs: number;
  readonly lastReceiptUs: number;
}

interface Tracker {
  readonly expected: number;
  readonly seen: Uint8Array;
  readonly latency: LatencyHistogram;
  received: number;
  unique: number;
  duplicates: number;
  firstReceiptUs: number;
  lastReceiptUs: number;
}

export class ArrivalLog {
  private readonly trackers = new Map<string, Tracker>();

  /** Starts counting run `run`, whose messages carry sequence numbers 0 .. expected - 1. */
  expect(spec: { run: string; expected: number }): null {
    this.trackers.set(spec.run, {
      expected: spec.expected,
      seen: new Uint8Array(spec.expected),
      latency: latencyHistogram(),
      received: 0,
      unique: 0,
      duplicates: 0,
      firstReceiptUs: 0,
      lastReceiptUs: 0,
    });
    return null;
  }

  /** Notes one payload received at `nowUs`; other traffic (another run, not a bench message) is ignored. */
  record(payload: Buffer, nowUs: number = monotonicMicros()): void {
    const head = readPayloadHead(payload);
    const tracker = head ? this.trackers.get(head.run) : undefined;
    if (!head || !tracker || head.seq >= tracker.expected) return;
    tracker.received += 1;
    if (tracker.seen[head.seq]) {
      tracker.duplicates += 1;
      return;
    }
    tracker.seen[head.seq] = 1;
    tracker.unique += 1;
    if (tracker.firstReceiptUs === 0) tracker.firstReceiptUs = nowUs;
    tracker.lastReceiptUs = nowUs;
    recordMicros(tracker.latency, nowUs - head.scheduledUs);
  }

  /** Waits until `sent` messages arrived or none arrived for `quietMs`, then reports and forgets the run. */
  async report(spec: { run: string; sent: number; quietMs: number }): Promise<ArrivalReport> {
    const tracker = this.trackers.get(spec.run);
    if (!tracker) throw new Error(`run ${spec.run} was not expected`);
    let last = -1;
    let quietSince = Date.now();
    while (tracker.unique < spec.sent && Date.now() - quietSince < spec.quietMs) {
      if (tracker.received !== last) {
        last = tracker.received;
        quietSince = Date.now();
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Duplicates arrive after the originals: give a straggler a moment.
    await new Promise((resolve) => setTimeout(resolve, 200));
    this.trackers.delete(spec.run);
    return {
      received: tracker.received,
      unique: tracker.unique,
      duplicates: tracker.duplicates,
      expected: tracker.expected,
      latency: encodeHistogram(tracker.latency),
      firstReceiptUs: tracker.firstReceiptUs,
      lastReceiptUs: tracker.lastReceiptUs,
    };
  }
}
