/**
 * The receiving end of a benchmark: one subscriber at the origin (or at the plain Mosquitto of the
 * direct comparison) that reads each message's run, sequence number and scheduled time and keeps,
 * per run, which messages arrived, how many twice, and the latency from scheduled send to receipt
 * in an HdrHistogram. Both ends read CLOCK_MONOTONIC, which all processes on one machine share.
 */
import { serveBenchRequests } from '../lib/child.js';
import {
  encodeHistogram,
  type LatencyHistogram,
  latencyHistogram,
  monotonicMicros,
  recordMicros,
} from '../lib/histogram.js';
import { BenchMqttClient, type MqttIdentity, type MqttTarget } from '../lib/mqtt-client.js';
import { readPayloadHead } from '../lib/payload.js';

export interface SubscriberConnect {
  readonly target: MqttTarget;
  readonly identity: MqttIdentity;
  readonly filter: string;
  readonly qos: 0 | 1;
}

export interface SubscriberReport {
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

const trackers = new Map<string, Tracker>();
let client: BenchMqttClient | undefined;

async function connect(spec: SubscriberConnect): Promise<null> {
  client = await BenchMqttClient.connect(spec.target, spec.identity, { keepaliveSeconds: 600 });
  const subscriber = client;
  subscriber.onPacket = (packet) => {
    if (packet.cmd !== 'publish') return;
    const now = monotonicMicros();
    if (packet.qos === 1 && packet.messageId !== undefined) subscriber.puback(packet.messageId);
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const head = readPayloadHead(payload);
    const tracker = head ? trackers.get(head.run) : undefined;
    if (!head || !tracker || head.seq >= tracker.expected) return;
    tracker.received += 1;
    if (tracker.seen[head.seq]) {
      tracker.duplicates += 1;
      return;
    }
    tracker.seen[head.seq] = 1;
    tracker.unique += 1;
    if (tracker.firstReceiptUs === 0) tracker.firstReceiptUs = now;
    tracker.lastReceiptUs = now;
    recordMicros(tracker.latency, now - head.scheduledUs);
  };
  await subscriber.subscribe(spec.filter, spec.qos);
  return null;
}

function expect(spec: { run: string; expected: number }): null {
  trackers.set(spec.run, {
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

/** Waits until `sent` messages arrived or none arrived for `quietMs`, then reports and forgets the run. */
async function report(spec: { run: string; sent: number; quietMs: number }): Promise<SubscriberReport> {
  const tracker = trackers.get(spec.run);
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
  trackers.delete(spec.run);
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

serveBenchRequests({
  connect,
  expect,
  report,
  close: async () => {
    await client?.close();
  },
});
