/**
 * Quarantine review on the local platform's brokers: injections held for review (policy
 * patterns.action = quarantine) through the real edge, processors, console, bridge and origin.
 *
 * - hold: device PUBLISH (client side, before the send) -> the message is in the console's queue;
 * - release: the operator's release call (before the request) -> the message at an origin
 *   subscriber; one release at a time, paced, so each is measured alone as an operator would click;
 * - the release API call itself (request -> answer: one Kafka transaction).
 *
 *   UV_THREADPOOL_SIZE=32 node dist/bench/quarantine.bench.js [--messages 200] [--devices 10] [--pace-ms 50]
 *
 * The edge, processors, bridge and console run in this one process, and each of their librdkafka
 * consumers holds a libuv thread while it waits for records; with libuv's default 4 threads the
 * console's transaction calls queue behind them (about 350 ms a release here). In a deployment each
 * service is a process with threads of its own: a larger pool models that.
 */
import { parseArgs } from 'node:util';
import type { MqttClient } from 'mqtt';
import {
  api,
  consoleAccounts,
  removeAccounts,
  setUpHoldingWorld,
  startTestConsole,
} from '../test/helpers/console.js';
import { listenerPort } from '../test/helpers/edge.js';
import { connectDevice } from '../test/helpers/mqtt-device.js';
import { PipelineTestWorld } from '../test/helpers/pipeline.js';
import { uniqueName } from '../test/helpers/platform.js';
import { latencyHistogram, monotonicMicros, recordMicros, summarise } from './lib/histogram.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '200' },
    devices: { type: 'string', default: '10' },
    'pace-ms': { type: 'string', default: '50' },
  },
});
const messages = Number(values.messages);
const deviceCount = Number(values.devices);
const paceMs = Number(values['pace-ms']);
const password = 'quarantine-bench-password';
const tag = uniqueName('qb').replaceAll('-', '');

const world = new PipelineTestWorld();
const accounts = await consoleAccounts();
const clients: MqttClient[] = [];
try {
  await setUpHoldingWorld(world, accounts);
  const devices = Array.from({ length: deviceCount }, (_, i) => `${tag}-d${i}`);
  await world.edgeWorld.addDevices(devices, password, { publish: ['devices/%c/#'] });
  const origin = await world.subscribeAtOrigin(['devices/+/telemetry']);
  const running = await startTestConsole(world, accounts);
  const arrivedAt = new Map<string, number>();
  origin.client.on('message', (_topic, payload) => arrivedAt.set(payload.toString(), monotonicMicros()));
  for (const id of devices) clients.push(await connectDevice(listenerPort(world.edge, 'mqtt'), id, password));

  const hold = latencyHistogram();
  const held: { heldId: string; payload: string }[] = [];
  for (let i = 0; i < messages; i++) {
    const clientId = devices[i % deviceCount] as string;
    const payload = JSON.stringify({ name: `x' OR 1=1 -- ${tag}-${i}` });
    const sent = monotonicMicros();
    await (clients[i % deviceCount] as MqttClient).publishAsync(`devices/${clientId}/telemetry`, payload, {
      qos: 1,
    });
    for (;;) {
      const entry = running.quarantine.store
        .select({ clientId, status: 'all' })
        .find((e) => e.held.payload.toString() === payload);
      if (entry) {
        recordMicros(hold, monotonicMicros() - sent);
        held.push({ heldId: entry.held.heldId, payload });
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  const call = latencyHistogram();
  const release = latencyHistogram();
  for (const { heldId, payload } of held) {
    const start = monotonicMicros();
    const { status } = await api(running, accounts.operatorToken, 'POST', `/api/v1/held/${heldId}/release`, {
      reason: 'bench',
    });
    if (status !== 200) throw new Error(`release of ${heldId} answered ${status}`);
    recordMicros(call, monotonicMicros() - start);
    while (!arrivedAt.has(payload)) await new Promise((resolve) => setTimeout(resolve, 1));
    recordMicros(release, (arrivedAt.get(payload) as number) - start);
    await new Promise((resolve) => setTimeout(resolve, paceMs));
  }
  const twice = origin.messages.length - new Set(origin.messages.map((m) => m.payload.toString())).size;
  const row = (name: string, s: ReturnType<typeof summarise>) =>
    `${name.padEnd(34)} ${String(s.count).padStart(5)} ${[s.p50Ms, s.p95Ms, s.p99Ms, s.maxMs].map((v) => v.toFixed(1).padStart(8)).join(' ')}`;
  console.log(
    `quarantine bench: ${messages} injections from ${deviceCount} devices, released one at a time every ${paceMs} ms`,
  );
  console.log(
    `${'measure'.padEnd(34)} ${'n'.padStart(5)} ${['P50 ms', 'P95 ms', 'P99 ms', 'max ms'].map((h) => h.padStart(8)).join(' ')}`,
  );
  console.log(row('publish -> held in the console', summarise(hold)));
  console.log(row('release call (one transaction)', summarise(call)));
  console.log(row('release -> at the origin', summarise(release)));
  console.log(`delivered twice at the origin: ${twice}`);
  await running.stop();
} finally {
  for (const client of clients) await client.endAsync(true).catch(() => undefined);
  await world.tearDown();
  removeAccounts(accounts);
}
