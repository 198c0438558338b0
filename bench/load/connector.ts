/**
 * A load process for connections: opens many idle MQTT sessions and holds them (each process may
 * hold at most 20,000 open files here, so the suite runs several, each from its own 127.0.0.x
 * source address), or runs CONNECTs on a schedule and measures scheduled time -> CONNACK.
 */
import { serveBenchRequests } from '../lib/child.js';
import { encodeHistogram, latencyHistogram, monotonicMicros, recordMicros } from '../lib/histogram.js';
import { BenchMqttClient, ConnackRefused, type MqttTarget } from '../lib/mqtt-client.js';

export interface DeviceRange {
  readonly clientIdPrefix: string;
  readonly from: number;
  readonly count: number;
  /** Every device of a range has this password; its user name is its client id. */
  readonly password: string;
}

export interface OpenSpec extends DeviceRange {
  readonly target: MqttTarget;
  readonly localAddress: string;
  readonly concurrency: number;
}

export interface OpenResult {
  readonly opened: number;
  readonly failed: number;
  readonly elapsedMs: number;
  readonly firstError: string | null;
}

export interface ConnectRateSpec extends DeviceRange {
  /** CONNECT i uses device from + (i % distinct): a device reconnects every `distinct` CONNECTs. */
  readonly distinct: number;
  readonly target: MqttTarget;
  /**
   * Source addresses, taken in turn. One address holds at most the ephemeral port range (28,232
   * here) of connections, TIME_WAIT included (60 s): a single one ran out of ports at 500-1,000
   * CONNECT/s within a minute, and connect() then crawled through the full port table.
   */
  readonly localAddresses: readonly string[];
  readonly rate: number;
  readonly startAtUs: number;
}

export interface ConnectRateResult {
  readonly attempted: number;
  readonly accepted: number;
  readonly failed: number;
  /** Of the failed, those the server answered with a refusing CONNACK (the rest had no answer). */
  readonly refused: number;
  readonly firstError: string | null;
  readonly elapsedMs: number;
  /** Scheduled CONNECT -> CONNACK 0, encoded HdrHistogram. */
  readonly connack: string;
  /** Scheduled CONNECT -> refusing CONNACK, encoded HdrHistogram. */
  readonly refusal: string;
  /**
   * Scheduled CONNECT -> the loader starting it, encoded HdrHistogram: the part of the CONNACK time
   * the loader itself was late (its event loop busy or not scheduled), not the server.
   */
  readonly lateStart: string;
}

const held: BenchMqttClient[] = [];
/** Keep Alive of the held sessions; the edge caps it at 300 s by default and closes after 1.5x. */
const keepaliveSeconds = 300;
/** A held session pings when it has been silent this long, as an MQTT client does within its Keep Alive. */
const pingAfterMs = 280_000;
// Sessions in the order they fell silent; all wait the same interval, so the queue stays sorted.
const silentSince: Array<{ readonly client: BenchMqttClient; at: number }> = [];
let nextDue = 0;
setInterval(() => {
  const now = Date.now();
  while (nextDue < silentSince.length && silentSince[nextDue]!.at <= now - pingAfterMs) {
    const entry = silentSince[nextDue++]!;
    if (entry.client.closed) continue;
    entry.client.ping();
    silentSince.push({ client: entry.client, at: now });
  }
  if (nextDue > 100_000) {
    silentSince.splice(0, nextDue);
    nextDue = 0;
  }
}, 1000).unref();
const idOf = (range: DeviceRange, i: number) => `${range.clientIdPrefix}${range.from + i}`;

async function open(spec: OpenSpec): Promise<OpenResult> {
  const started = Date.now();
  let next = 0;
  let failed = 0;
  let firstError: string | null = null;
  const worker = async () => {
    while (next < spec.count) {
      const clientId = idOf(spec, next++);
      try {
        const client = await BenchMqttClient.connect(
          spec.target,
          { clientId, username: clientId, password: spec.password },
          { localAddress: spec.localAddress, keepaliveSeconds, timeoutMs: 60_000 },
        );
        held.push(client);
        silentSince.push({ client, at: Date.now() });
      } catch (error) {
        failed += 1;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: spec.concurrency }, worker));
  return { opened: spec.count - failed, failed, elapsedMs: Date.now() - started, firstError };
}

async function connectRate(spec: ConnectRateSpec): Promise<ConnectRateResult> {
  const connack = latencyHistogram();
  const refusal = latencyHistogram();
  const lateStart = latencyHistogram();
  const intervalUs = 1e6 / spec.rate;
  const attempts: Array<Promise<void>> = [];
  let accepted = 0;
  let failed = 0;
  let refused = 0;
  let firstError: string | null = null;
  for (let i = 0; i < spec.count; i++) {
    const scheduledUs = spec.startAtUs + i * intervalUs;
    const waitMs = (scheduledUs - monotonicMicros()) / 1000;
    if (waitMs > 1) await new Promise((resolve) => setTimeout(resolve, waitMs));
    const clientId = idOf(spec, i % spec.distinct);
    recordMicros(lateStart, Math.max(0, monotonicMicros() - scheduledUs));
    attempts.push(
      BenchMqttClient.connect(
        spec.target,
        { clientId, username: clientId, password: spec.password },
        { localAddress: spec.localAddresses[i % spec.localAddresses.length]!, timeoutMs: 30_000 },
      ).then(
        async (client) => {
          recordMicros(connack, monotonicMicros() - scheduledUs);
          accepted += 1;
          await client.close();
        },
        (error: unknown) => {
          failed += 1;
          if (error instanceof ConnackRefused) {
            refused += 1;
            recordMicros(refusal, monotonicMicros() - scheduledUs);
          }
          firstError ??= error instanceof Error ? error.message : String(error);
        },
      ),
    );
  }
  await Promise.all(attempts);
  return {
    attempted: spec.count,
    accepted,
    failed,
    refused,
    firstError,
    elapsedMs: Math.round((monotonicMicros() - spec.startAtUs) / 1000),
    connack: encodeHistogram(connack),
    refusal: encodeHistogram(refusal),
    lateStart: encodeHistogram(lateStart),
  };
}

serveBenchRequests({
  open,
  connectRate,
  /** How many held sessions the edge has closed since they were opened. */
  status: () => ({ held: held.length, closed: held.filter((client) => client.closed).length }),
  closeAll: () => {
    silentSince.length = 0;
    nextDue = 0;
    for (const client of held.splice(0)) client.socket.destroy();
    return null;
  },
});
