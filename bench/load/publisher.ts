/**
 * A load process that publishes on a schedule: message i is due at start + i / rate, whatever
 * happened to message i - 1, and carries its scheduled time. When the target stalls, messages go
 * late and their latency counts from when they were due (no coordinated omission).
 * Devices are spread round-robin; at QoS 1 each keeps at most `window` PUBLISHes unacknowledged.
 */

import { serveBenchRequests } from '../lib/child.js';
import { encodeHistogram, latencyHistogram, monotonicMicros, recordMicros } from '../lib/histogram.js';
import { BenchMqttClient, type MqttIdentity, type MqttTarget } from '../lib/mqtt-client.js';
import { benchPayload } from '../lib/payload.js';

export interface PublisherConnect {
  readonly target: MqttTarget;
  readonly devices: readonly MqttIdentity[];
  readonly localAddress?: string;
}

export interface PublisherRun {
  readonly run: string;
  readonly rate: number;
  readonly durationMs: number;
  readonly qos: 0 | 1;
  readonly payloadBytes: number;
  /** `{clientId}` is replaced by the device's client id. */
  readonly topic: string;
  readonly window: number;
  /** Monotonic microseconds at which message 0 is due (the suite aligns its publishers). */
  readonly startAtUs: number;
  /** Only the first this many connections publish (the rest idle), so the per-device rate stays fixed. */
  readonly activeDevices: number;
  /** Message i carries sequence number seqOffset + i * seqStride: unique across the run's publishers. */
  readonly seqOffset: number;
  readonly seqStride: number;
}

export interface PublisherResult {
  readonly sent: number;
  readonly acked: number;
  readonly scheduled: number;
  /** How far the generator itself fell behind its schedule, at worst, in ms. */
  readonly maxBehindMs: number;
  readonly elapsedMs: number;
  readonly closedConnections: number;
  /** Scheduled time -> PUBACK, encoded HdrHistogram (QoS 1). */
  readonly puback: string;
}

let clients: BenchMqttClient[] = [];
let identities: readonly MqttIdentity[] = [];

async function connect(spec: PublisherConnect): Promise<{ connected: number }> {
  identities = spec.devices;
  clients = [];
  for (let start = 0; start < spec.devices.length; start += 100) {
    const batch = spec.devices.slice(start, start + 100).map((identity) =>
      BenchMqttClient.connect(spec.target, identity, {
        ...(spec.localAddress ? { localAddress: spec.localAddress } : {}),
      }),
    );
    clients.push(...(await Promise.all(batch)));
  }
  return { connected: clients.length };
}

function run(spec: PublisherRun): Promise<PublisherResult> {
  const total = Math.round((spec.rate * spec.durationMs) / 1000);
  const intervalUs = 1e6 / spec.rate;
  const active = clients.slice(0, Math.max(1, Math.min(clients.length, spec.activeDevices)));
  const topics = identities.map((identity) => spec.topic.replace('{clientId}', identity.clientId));
  const inFlight = active.map(() => new Map<number, number>());
  const puback = latencyHistogram();
  let sent = 0;
  let acked = 0;
  let maxBehindUs = 0;
  const closedBefore = active.filter((c) => c.closed).length;

  return new Promise((resolve) => {
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      resolve({
        sent,
        acked,
        scheduled: total,
        maxBehindMs: Math.round(maxBehindUs / 1000),
        elapsedMs: Math.round((monotonicMicros() - spec.startAtUs) / 1000),
        closedConnections: active.filter((c) => c.closed).length - closedBefore,
        puback: encodeHistogram(puback),
      });
    };
    active.forEach((client, d) => {
      client.onPacket = (packet) => {
        if (packet.cmd !== 'puback') return;
        const scheduled = inFlight[d]!.get(packet.messageId!);
        if (scheduled === undefined) return;
        inFlight[d]!.delete(packet.messageId!);
        recordMicros(puback, monotonicMicros() - scheduled);
        acked += 1;
        if (sent === total && acked === sent) finish();
      };
    });
    const tick = () => {
      const now = monotonicMicros();
      const due = Math.min(total, Math.floor((now - spec.startAtUs) / intervalUs) + 1);
      while (sent < due) {
        const d = sent % active.length;
        const client = active[d]!;
        if (client.closed) {
          sent += 1; // counted as sent and never delivered: a lost connection loses its messages
          continue;
        }
        if (spec.qos === 1 && inFlight[d]!.size >= spec.window) break;
        if (client.socket.writableLength > 4 * 2 ** 20) break;
        const scheduledUs = spec.startAtUs + sent * intervalUs;
        const { messageId } = client.publish(
          topics[d]!,
          benchPayload(spec.run, spec.seqOffset + sent * spec.seqStride, scheduledUs, spec.payloadBytes),
          spec.qos,
        );
        if (spec.qos === 1) inFlight[d]!.set(messageId, scheduledUs);
        sent += 1;
      }
      if (sent < total) {
        maxBehindUs = Math.max(maxBehindUs, now - (spec.startAtUs + sent * intervalUs));
        const untilNext = spec.startAtUs + sent * intervalUs - monotonicMicros();
        setTimeout(tick, Math.max(0, Math.min(50, untilNext / 1000)));
      } else if (spec.qos === 0 || acked === sent) {
        // QoS 0 has no acknowledgement: done once the socket buffers are handed to the kernel.
        setTimeout(finish, spec.qos === 0 ? 50 : 0);
      } else {
        setTimeout(finish, 30_000);
      }
    };
    const untilStart = (spec.startAtUs - monotonicMicros()) / 1000;
    setTimeout(tick, Math.max(0, untilStart));
  });
}

serveBenchRequests({
  connect,
  run,
  close: async () => {
    await Promise.all(clients.map((client) => client.close()));
    clients = [];
  },
});
