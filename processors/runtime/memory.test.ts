import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PacketEvent } from '../model.js';
import { DEFAULT_POLICY, policyFromText } from '../policy/policy.js';
import { MemoryStateStore } from '../stores/state-store.js';
import { packetEvent, sessionOpened, telemetry } from '../test-events.js';
import { buildTopology, DEFAULT_CHAIN } from '../topology.js';
import { MemoryRuntime } from './memory.js';

const T0 = 1_700_000_000_000;

const session: PacketEvent[] = [
  sessionOpened('d1'),
  packetEvent({
    packetType: 'SUBSCRIBE',
    topic: null,
    payload: null,
    subscriptions: [{ topic: 'clients/d1/alerts', qos: 1 }],
  }),
  telemetry({ temp: 21.5 }, { receivedAt: T0 + 1000 }),
  telemetry({ note: "x' OR '1'='1" }, { receivedAt: T0 + 2000 }),
  packetEvent({
    payload: Buffer.from(JSON.stringify({ blob: 'a'.repeat(11_000) })),
    topic: 'devices/d1/logs',
    receivedAt: T0 + 3000,
  }),
  packetEvent({
    packetType: 'MALFORMED',
    malformedReason: 'MQTT-2.2.2-1: invalid fixed-header flags',
    topic: null,
    payload: null,
  }),
  packetEvent({ packetType: 'PINGREQ', topic: null, payload: null }),
];

test('the default chain emits exactly one verdict per event, in order, with the packet reference', () => {
  const runtime = new MemoryRuntime({
    steps: buildTopology({ policy: DEFAULT_POLICY }),
    startAt: T0 + 10_000,
  });
  runtime.pipeAll(session);
  assert.equal(runtime.verdicts.length, session.length);
  assert.deepEqual(
    runtime.verdicts.map((v) => [v.packetType, v.decision, v.packetRef.offset]),
    [
      ['CONNECT', 'allow', '0'],
      ['SUBSCRIBE', 'allow', '1'],
      ['PUBLISH', 'allow', '2'],
      ['PUBLISH', 'block', '3'],
      ['PUBLISH', 'quarantine', '4'],
      ['MALFORMED', 'block', '5'],
      ['PINGREQ', 'allow', '6'],
    ],
  );
  assert.equal(runtime.verdicts[3]!.findings[0]!.class, 'sqli');
  assert.equal(runtime.verdicts[0]!.decidedAt, T0 + 10_000, 'decidedAt comes from the runtime clock');
});

test('only allowed PUBLISHes are approved for the origin', () => {
  const runtime = new MemoryRuntime({ steps: buildTopology({ policy: DEFAULT_POLICY }) });
  runtime.pipeAll(session);
  assert.deepEqual(runtime.approved, [session[2]]);
});

test('shadow mode records every finding and allows everything, stating what enforce would decide', () => {
  const runtime = new MemoryRuntime({
    steps: buildTopology({ policy: policyFromText('{"mode":"shadow"}', 'x') }),
  });
  runtime.pipeAll(session);
  assert.ok(runtime.verdicts.every((v) => v.decision === 'allow' && v.mode === 'shadow'));
  assert.equal(runtime.verdicts[3]!.decisionIfEnforced, 'block');
  assert.ok(runtime.verdicts[3]!.findings.every((f) => f.shadow));
  assert.equal(runtime.approved.length, 3, 'every PUBLISH goes through');
});

test('the chain is data: without the patterns step the injection is allowed', () => {
  const runtime = new MemoryRuntime({
    steps: buildTopology(
      { policy: DEFAULT_POLICY },
      DEFAULT_CHAIN.filter((name) => name !== 'patterns'),
    ),
  });
  runtime.pipeAll(session);
  assert.equal(runtime.verdicts[3]!.decision, 'allow');
});

test('a chain without a verdict step emits no verdicts (the verdict is a step like any other)', () => {
  const runtime = new MemoryRuntime({
    steps: buildTopology({ policy: DEFAULT_POLICY }, ['admission', 'validate', 'patterns']),
  });
  const outputs = runtime.pipeAll(session);
  assert.equal(runtime.verdicts.length, 0);
  assert.equal(outputs[3]!.findings[0]!.class, 'sqli');
});

test('state is JSON in stores named after the step; a new runtime restored from the changes carries the baselines on', () => {
  const first = new MemoryRuntime({ steps: buildTopology({ policy: DEFAULT_POLICY }) });
  assert.deepEqual(first.storeNames(), ['admission.device', 'anomaly.device', 'anomaly.source']);
  const traffic = Array.from({ length: 150 }, (_, i) =>
    telemetry({ temp: 20 }, { receivedAt: T0 + i * 1000 }),
  );
  first.pipe(sessionOpened('d1'));
  first.pipeAll(traffic);
  const changes = first.store('anomaly.device').takeChanges();
  assert.equal(changes.length, 1);

  const second = new MemoryRuntime({
    steps: buildTopology({ policy: DEFAULT_POLICY }),
    createStore: (name) => new MemoryStateStore(name),
  });
  for (const change of changes) second.store('anomaly.device').restore(change);
  for (const change of first.store('admission.device').takeChanges())
    second.store('admission.device').restore(change);
  assert.deepEqual(second.store('anomaly.device').get('d1'), first.store('anomaly.device').get('d1'));
  // Carried-on baseline: a flood right after the restart is judged against it, not treated as a new device.
  const flood = Array.from({ length: 200 }, (_, i) =>
    telemetry({ temp: 1 }, { receivedAt: T0 + 150_000 + i * 20 }),
  );
  const outputs = second.pipeAll(flood);
  assert.ok(outputs.some((o) => o.findings.some((f) => f.ruleId === 'ANOM-RATE-BASELINE')));
});

test('step names must be unique in a topology', () => {
  const steps = buildTopology({ policy: DEFAULT_POLICY }, ['validate', 'validate']);
  assert.throws(() => new MemoryRuntime({ steps }), /appears twice/);
});
