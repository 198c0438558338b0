import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Consumer } from 'kafkajs';
import mqtt, { type MqttClient } from 'mqtt';
import type { RunningIngest } from '../../ingest/main.js';
import { loadConfig } from '../../lib/config.js';
import { createLogger } from '../../lib/log.js';
import { type ProcessorsService, startProcessors } from '../../processors/main.js';
import { processorsSchema } from '../../processors/settings.js';
import type { Verdict } from '../../schemas/types.generated.js';
import { EdgeTestWorld, listenerPort } from '../helpers/edge.js';
import { testKafka, uniqueName } from '../helpers/platform.js';

/**
 * The seed's security scenarios, end to end: a device talks to the edge, the edge writes packet
 * events, the processors decide, and the expected verdict appears in sentinel.verdicts.
 */
const world = new EdgeTestWorld();
const password = 'scenario-device-password';
let edge: RunningIngest;
let processors: ProcessorsService;
let verdictReader: Consumer;
const verdicts: Verdict[] = [];
const waiters: Array<() => void> = [];

async function waitForVerdict(predicate: (verdict: Verdict) => boolean): Promise<Verdict> {
  for (;;) {
    const found = verdicts.find(predicate);
    if (found) return found;
    await new Promise<void>((resolve) => waiters.push(resolve));
  }
}

function connect(clientId: string, secret = password): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${listenerPort(edge, 'mqtt')}`, {
    clientId,
    username: clientId,
    password: secret,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
}

const hasRule = (verdict: Verdict, ruleId: string) => verdict.findings.some((f) => f.ruleId === ruleId);

before(async () => {
  await world.setUp();
  for (const id of ['scn-pattern', 'scn-size', 'scn-entropy', 'scn-rate', 'scn-auth']) {
    await world.addDevice({ clientId: id, username: id, password, publish: ['devices/%c/#'] });
  }
  edge = await world.startEdge();
  const config = loadConfig(processorsSchema, {
    env: {
      SENTINEL_KAFKA_BROKERS: world.env().SENTINEL_KAFKA_BROKERS,
      SENTINEL_REGISTRY_URL: world.env().SENTINEL_REGISTRY_URL,
      SENTINEL_TOPIC_PREFIX: world.topicPrefix,
      SENTINEL_PROCESSORS_GROUP_ID: uniqueName('scenarios'),
      SENTINEL_PROCESSORS_METRICS_PORT: '0',
    },
  });
  processors = await startProcessors(config, {
    log: createLogger({ name: 'processors-test', level: 'warn' }),
  });
  verdictReader = testKafka(world.platform).consumer({
    groupId: uniqueName('verdicts-reader'),
    maxWaitTimeInMs: 50,
  });
  await verdictReader.connect();
  await verdictReader.subscribe({ topic: world.topics.verdicts, fromBeginning: true });
  await verdictReader.run({
    eachMessage: async ({ message }) => {
      if (!message.value) return;
      verdicts.push(await world.catalog.decode('verdicts', message.value));
      for (const wake of waiters.splice(0)) wake();
    },
  });
});

after(async () => {
  await verdictReader?.disconnect();
  await processors?.stop();
  await world.tearDown();
});

describe('security scenarios from the edge to a verdict', () => {
  it('pattern-violation: an injection payload is blocked with its rule and evidence', async () => {
    const client = await connect('scn-pattern');
    await client.publishAsync(
      'devices/scn-pattern/telemetry',
      JSON.stringify({ name: "x' UNION SELECT password FROM users--" }),
      { qos: 1 },
    );
    await client.endAsync();
    const verdict = await waitForVerdict((v) => v.clientId === 'scn-pattern' && v.packetType === 'PUBLISH');
    assert.equal(verdict.decision, 'block');
    const finding = verdict.findings.find((f) => f.class === 'sqli');
    assert.ok(finding, 'an SQL injection finding');
    assert.equal(finding.stage, 'patterns');
    assert.match(finding.evidence, /union/i);
  });

  it('size-anomaly: a payload over the 10 KB cap is quarantined', async () => {
    const client = await connect('scn-size');
    await client.publishAsync('devices/scn-size/telemetry', JSON.stringify({ blob: 'a'.repeat(12 * 1024) }), {
      qos: 1,
    });
    await client.endAsync();
    const verdict = await waitForVerdict((v) => v.clientId === 'scn-size' && v.packetType === 'PUBLISH');
    assert.equal(verdict.decision, 'quarantine');
    assert.ok(hasRule(verdict, 'ANOM-SIZE-CAP'));
  });

  it('entropy: random bytes on a telemetry topic are quarantined (over 7.5 bits/byte on a JSON topic)', async () => {
    const client = await connect('scn-entropy');
    await client.publishAsync('devices/scn-entropy/telemetry', randomBytes(4096), { qos: 1 });
    await client.endAsync();
    const verdict = await waitForVerdict((v) => v.clientId === 'scn-entropy' && v.packetType === 'PUBLISH');
    assert.ok(hasRule(verdict, 'ANOM-ENTROPY'), JSON.stringify(verdict.findings));
  });

  it('rate-anomaly: a device bursting past 100 messages/s gets a rate finding', async () => {
    const client = await connect('scn-rate');
    for (let i = 0; i < 150; i++)
      client.publish('devices/scn-rate/telemetry', JSON.stringify({ t: 20, i }), { qos: 0 });
    await client.publishAsync('devices/scn-rate/telemetry', '{"last":true}', { qos: 1 });
    await client.endAsync();
    const verdict = await waitForVerdict(
      (v) => v.clientId === 'scn-rate' && hasRule(v, 'ANOM-RATE-ABSOLUTE'),
    );
    assert.equal(verdict.findings.find((f) => f.ruleId === 'ANOM-RATE-ABSOLUTE')?.class, 'rate');
  });

  it('auth-failure: repeated bad passwords for one client id produce an auth-burst finding', async () => {
    for (let i = 0; i < 7; i++) {
      await connect('scn-auth', 'wrong-password').then(
        (client) => client.endAsync(),
        () => undefined,
      );
    }
    const verdict = await waitForVerdict(
      (v) => v.clientId === 'scn-auth' && v.findings.some((f) => f.class === 'auth-burst'),
    );
    assert.equal(verdict.packetType, 'CONNECT');
    assert.notEqual(verdict.decision, 'allow');
  });
});
