/**
 * The receiving end of a benchmark over MQTT: one subscriber at the origin (or at the plain
 * Mosquitto of the direct comparison) whose arrivals are counted by an ArrivalLog
 * (bench/lib/arrivals.ts): which messages arrived, how many twice, scheduled send -> receipt.
 */
import { ArrivalLog } from '../lib/arrivals.js';
import { serveBenchRequests } from '../lib/child.js';
import { monotonicMicros } from '../lib/histogram.js';
import { BenchMqttClient, type MqttIdentity, type MqttTarget } from '../lib/mqtt-client.js';

export type { ArrivalReport as SubscriberReport } from '../lib/arrivals.js';

export interface SubscriberConnect {
  readonly target: MqttTarget;
  readonly identity: MqttIdentity;
  readonly filter: string;
  readonly qos: 0 | 1;
}

const arrivals = new ArrivalLog();
let client: BenchMqttClient | undefined;

async function connect(spec: SubscriberConnect): Promise<null> {
  client = await BenchMqttClient.connect(spec.target, spec.identity, { keepaliveSeconds: 600 });
  const subscriber = client;
  subscriber.onPacket = (packet) => {
    if (packet.cmd !== 'publish') return;
    const now = monotonicMicros();
    if (packet.qos === 1 && packet.messageId !== undefined) subscriber.puback(packet.messageId);
    arrivals.record(Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload), now);
  };
  await subscriber.subscribe(spec.filter, spec.qos);
  return null;
}

serveBenchRequests({
  connect,
  expect: (spec: { run: string; expected: number }) => arrivals.expect(spec),
  report: (spec: { run: string; sent: number; quietMs: number }) => arrivals.report(spec),
  close: async () => {
    await client?.close();
  },
});
