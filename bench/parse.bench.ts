/**
 * Frame + decode (mqtt-packet) + validate throughput for 100-byte-payload PUBLISH at QoS 0 and 1,
 * as one ingest connection sees it: chunks of 64 KB holding back-to-back packets.
 * Run: npx tsc -p tsconfig.json && node dist/bench/parse.bench.js
 */
import { parseArgs } from 'node:util';
import mqttPacket from 'mqtt-packet';
import { InboundPacketReader } from '../ingest/protocol/inbound.js';
import { defaultProtocolPolicy } from '../ingest/protocol/policy.js';
import { writeJsonResult } from './lib/output.js';

const { values: output } = parseArgs({ options: { json: { type: 'string' }, quick: { type: 'boolean' } } });

const connect = mqttPacket.generate({
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 4,
  clientId: 'bench-device-0001',
  clean: true,
  keepalive: 60,
});

function publishes(qos: 0 | 1, count: number): Buffer {
  const packets: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    packets.push(
      mqttPacket.generate({
        cmd: 'publish',
        topic: 'sensors/bench-device-0001/telemetry',
        payload: Buffer.alloc(100, i & 0xff),
        qos,
        dup: false,
        retain: false,
        ...(qos === 0 ? {} : { messageId: (i % 65_535) + 1 }),
      }),
    );
  }
  return Buffer.concat(packets);
}

function chunks(stream: Buffer, size: number): Buffer[] {
  const result: Buffer[] = [];
  for (let at = 0; at < stream.length; at += size) result.push(stream.subarray(at, at + size));
  return result;
}

function run(qos: 0 | 1): { packetsPerSecond: number; packets: number } {
  const perRound = 20_000;
  const stream = chunks(publishes(qos, perRound), 64 * 1024);
  let packets = 0;
  const started = process.hrtime.bigint();
  const budget = output.quick ? 500_000_000n : 2_000_000_000n;
  while (process.hrtime.bigint() - started < budget) {
    const reader = new InboundPacketReader(defaultProtocolPolicy);
    reader.push(connect);
    for (const chunk of stream) {
      const result = reader.push(chunk);
      if (result.refusal !== undefined) throw new Error(result.refusal.message);
      packets += result.packets.length;
    }
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { packetsPerSecond: Math.round(packets / seconds), packets };
}

for (const qos of [0, 1] as const) run(qos); // warm-up
const results: Array<{ qos: 0 | 1; packetsPerSecond: number }> = [];
for (const qos of [0, 1] as const) {
  const { packetsPerSecond, packets } = run(qos);
  results.push({ qos, packetsPerSecond });
  console.log(
    `frame+decode+validate PUBLISH QoS ${qos}, 100-byte payload: ${packetsPerSecond.toLocaleString('en')} packets/s (${packets.toLocaleString('en')} packets, 64 KB chunks)`,
  );
}
writeJsonResult(output.json, { bench: 'parse', payloadBytes: 100, chunkBytes: 65536, results });
