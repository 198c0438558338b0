import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { shannonEntropy } from '../inspect/entropy.js';
import type { PacketEvent } from '../model.js';
import { DEFAULT_POLICY, type Policy, policyFromText } from '../policy/policy.js';
import { MemoryRuntime } from '../runtime/memory.js';
import { packetEvent, telemetry } from '../test-events.js';
import { createAnomalyStep, type DeviceBaseline } from './anomaly.js';

const T0 = 1_700_000_000_000;

function driver(policy: Policy = DEFAULT_POLICY) {
  return new MemoryRuntime({ steps: [createAnomalyStep({ policy })] });
}

const ruleIdsOf = (runtime: MemoryRuntime, event: PacketEvent) =>
  runtime.pipe(event).findings.map((f) => f.ruleId);

/** A device sending one message every `everyMs` for `count` messages from `start`. */
function steadyTraffic(count: number, everyMs: number, start = T0): PacketEvent[] {
  return Array.from({ length: count }, (_, i) =>
    telemetry({ temp: 20 + (i % 5) }, { receivedAt: start + i * everyMs }),
  );
}

test('entropy: random bytes measure near 8 bits/byte even at 256 bytes; telemetry JSON far lower', () => {
  // 2,000 samples: the estimator must clear the 7.5 threshold every time, not on average.
  const lowest = Math.min(...Array.from({ length: 2000 }, () => shannonEntropy(randomBytes(256))));
  assert.ok(lowest > 7.5, `lowest of 2,000 random 256-byte payloads: ${lowest}`);
  assert.equal(shannonEntropy(Buffer.from([1])), 0);
  assert.ok(shannonEntropy(Buffer.from([1, 2])) > 0);
  assert.ok(
    shannonEntropy(
      Buffer.from(JSON.stringify({ temp: 21.5, humidity: 40, status: 'ok', ts: T0 }).repeat(10)),
    ) < 6,
  );
  assert.equal(shannonEntropy(Buffer.alloc(0)), 0);
  assert.equal(shannonEntropy(Buffer.alloc(1000, 65)), 0);
});

test('rate: a device flooding at over 10x its warmed-up baseline (50 msg/s against 1 msg/s) is quarantined, and the flood is not learnt', () => {
  const runtime = driver();
  // 1 msg/s for 2 minutes: baseline about 10 per 10 s window.
  for (const event of steadyTraffic(120, 1000)) assert.deepEqual(ruleIdsOf(runtime, event), []);
  const floodStart = T0 + 120_000;
  const flood = Array.from({ length: 200 }, (_, i) =>
    telemetry({ temp: 1 }, { receivedAt: floodStart + i * 20 }),
  );
  const findings = flood.flatMap((event) => ruleIdsOf(runtime, event));
  assert.ok(findings.includes('ANOM-RATE-BASELINE'));
  const baseline = runtime.store('anomaly.device').get('d1') as DeviceBaseline;
  assert.ok(baseline.rateEwma < 20, `baseline stayed near 10 per window, got ${baseline.rateEwma}`);
});

/** `rate` messages per second from device `clientId` for `seconds`, from `start`. */
function steadyRate(clientId: string, rate: number, seconds: number, start: number): PacketEvent[] {
  return Array.from({ length: rate * seconds }, (_, i) =>
    telemetry(
      { temp: 20 + (i % 5) },
      { clientId, topic: `devices/${clientId}/telemetry`, receivedAt: start + Math.floor((i * 1000) / rate) },
    ),
  );
}

const minutes = (n: number) => n * 60_000;

test('rate: a device resuming its usual 20 msg/s after 5 idle minutes is not judged against the pause', () => {
  const runtime = driver();
  const before = steadyRate('d1', 20, 180, T0);
  const after = steadyRate('d1', 20, 120, T0 + minutes(3) + minutes(5));
  const findings = [...before, ...after].flatMap((event) => ruleIdsOf(runtime, event));
  assert.deepEqual(findings, []);
  const baseline = runtime.store('anomaly.device').get('d1') as DeviceBaseline;
  assert.ok(
    baseline.rateEwma > 150 && baseline.rateEwma <= 200,
    `baseline stays the device's rate while it sends (200 per window), got ${baseline.rateEwma}`,
  );
});

test('rate: pauses of every length between bursts at the usual rate never trip the baseline', () => {
  for (const pauseMs of [3_000, 10_000, 15_000, 25_000, minutes(1), minutes(10), minutes(60 * 24)]) {
    const runtime = driver();
    let at = T0;
    const findings: string[] = [];
    // 20 bursts of 7 s at 20 msg/s: windows cut short by each pause, at every phase of the window.
    for (let burst = 0; burst < 20; burst++) {
      for (const event of steadyRate('d1', 20, 7, at)) findings.push(...ruleIdsOf(runtime, event));
      at += 7_000 + pauseMs;
    }
    assert.deepEqual(findings, [], `pause ${pauseMs} ms`);
  }
});

test('rate: a genuine flood over 10x the steady rate is quarantined from its first window, after a pause too', () => {
  for (const pauseMs of [0, minutes(5)]) {
    const runtime = driver();
    // 1 msg/s for 3 minutes: baseline 10 per window, ceiling max(50, 10 x 10) = 100 per window.
    for (const event of steadyRate('d1', 1, 180, T0)) assert.deepEqual(ruleIdsOf(runtime, event), []);
    // 15 msg/s (150 per window) for 30 s: over the ceiling, under the absolute 100 msg/s.
    const flood = steadyRate('d1', 15, 30, T0 + minutes(3) + pauseMs);
    const ids = flood.map((event) => ruleIdsOf(runtime, event));
    const first = ids.findIndex((found) => found.includes('ANOM-RATE-BASELINE'));
    assert.equal(first, 100, `pause ${pauseMs} ms: the 101st message of the first flood window`);
    assert.ok(ids.every((found) => !found.includes('ANOM-RATE-ABSOLUTE')));
  }
});

/**
 * The pipeline benchmark's workload: every device at 20 msg/s, a step at a higher total rate adds
 * devices, a few seconds between steps (bench/pipeline.bench.ts, quick and full).
 */
function benchRun(start: number): PacketEvent[] {
  const steps: Array<[rate: number, seconds: number]> = [
    [200, 2],
    [100, 6],
    [1000, 6],
    [250, 5],
    [500, 5],
    [1000, 5],
    [2000, 5],
  ];
  const events: PacketEvent[] = [];
  let at = start;
  for (const [rate, seconds] of steps) {
    for (let d = 0; d < rate / 20; d++) events.push(...steadyRate(`pb${d}`, 20, seconds, at + d));
    at += seconds * 1000 + 3000;
  }
  return events.sort((x, y) => x.receivedAt - y.receivedAt);
}

const findingsByRule = (runtime: MemoryRuntime, events: readonly PacketEvent[]) => {
  const counts: Record<string, number> = {};
  for (const event of events) for (const id of ruleIdsOf(runtime, event)) counts[id] = (counts[id] ?? 0) + 1;
  return counts;
};

test('rate: a rerun of a benchmark with the same device ids, state restored from the changelog, gives the same verdicts', () => {
  const first = driver();
  const firstRun = findingsByRule(first, benchRun(T0));
  // The processors restart in between: the stores come back from their changelog.
  const second = driver();
  for (const name of first.storeNames())
    for (const change of first.store(name).takeChanges()) second.store(name).restore(change);
  const rerunSoon = findingsByRule(second, benchRun(T0 + minutes(3)));
  const rerunLater = findingsByRule(second, benchRun(T0 + minutes(60 * 3)));
  assert.deepEqual(firstRun, {});
  assert.deepEqual(rerunSoon, firstRun, 'a rerun 2 minutes later');
  assert.deepEqual(rerunLater, firstRun, 'a rerun 3 hours later');
});

test('rate: a new device is judged by the absolute per-second limit only', () => {
  const runtime = driver();
  const burst = Array.from({ length: 101 }, (_, i) => telemetry({ temp: 1 }, { receivedAt: T0 + i }));
  const ids = burst.flatMap((event) => ruleIdsOf(runtime, event));
  assert.deepEqual(ids, ['ANOM-RATE-ABSOLUTE'], 'only the 101st message in one second');
});

test('size: a payload over 10 KB is quarantined from the first message', () => {
  const runtime = driver();
  const big = packetEvent({ payload: Buffer.from(JSON.stringify({ blob: 'a'.repeat(11_000) })) });
  assert.deepEqual(ruleIdsOf(runtime, big), ['ANOM-SIZE-CAP']);
});

test('size: after warm-up, a payload 8x the device mean is flagged; before warm-up it is not', () => {
  const runtime = driver();
  const large = (at: number) => telemetry({ blob: 'a'.repeat(2000) }, { receivedAt: at });
  assert.deepEqual(ruleIdsOf(runtime, large(T0)), [], 'first message: no baseline yet');
  for (const event of steadyTraffic(100, 1000, T0 + 1000)) runtime.pipe(event);
  assert.deepEqual(ruleIdsOf(runtime, large(T0 + 200_000)), ['ANOM-SIZE-BASELINE']);
});

test('size: a topic whose payload rule allows more is capped by its rule, not by the fleet-wide cap', () => {
  const policy = policyFromText(
    JSON.stringify({
      validation: {
        payloadRules: [{ topic: 'devices/+/camera/#', formats: ['json'], maxBytes: 65536 }],
      },
    }),
    'camera-topic',
  );
  const runtime = driver(policy);
  const image = (kb: number, at: number) =>
    packetEvent({
      topic: 'devices/d1/camera/snapshot',
      payload: Buffer.from(JSON.stringify({ jpeg: 'QUJD'.repeat(kb * 256) })),
      receivedAt: at,
    });
  assert.deepEqual(ruleIdsOf(runtime, image(24, T0)), [], '24 KiB within the topic rule');
  assert.deepEqual(ruleIdsOf(runtime, image(70, T0 + 1000)), ['ANOM-SIZE-CAP']);
});

test('entropy: a payload rule left without entropyExempt is exempt only when it allows nothing but binary', () => {
  const policy = policyFromText(
    JSON.stringify({
      validation: {
        payloadRules: [
          { topic: 'devices/+/blobs/#', formats: ['binary'], maxBytes: 4096 },
          { topic: 'devices/+/notes/#', formats: ['text', 'binary'], maxBytes: 4096 },
        ],
      },
    }),
    'derived-exemption',
  );
  const blob = randomBytes(1024);
  const runtime = driver(policy);
  assert.deepEqual(ruleIdsOf(runtime, packetEvent({ topic: 'devices/d1/blobs/a', payload: blob })), []);
  assert.deepEqual(
    ruleIdsOf(runtime, packetEvent({ topic: 'devices/d1/notes/a', payload: blob, receivedAt: T0 + 1000 })),
    ['ANOM-ENTROPY'],
  );
});

test('entropy: an encrypted-looking payload on a text or JSON topic is quarantined, not judged on an exempt firmware topic', () => {
  const runtime = driver();
  const blob = randomBytes(1024);
  assert.deepEqual(ruleIdsOf(runtime, packetEvent({ payload: blob })), ['ANOM-ENTROPY']);
  assert.equal(
    runtime.pipe(packetEvent({ payload: blob, receivedAt: T0 + 1000 })).findings[0]?.action,
    'quarantine',
  );
  assert.deepEqual(
    ruleIdsOf(runtime, packetEvent({ topic: 'devices/d1/firmware/1', payload: blob, receivedAt: T0 + 2000 })),
    [],
  );
});

test('entropy: payloads shorter than the minimum are not judged', () => {
  assert.deepEqual(ruleIdsOf(driver(), packetEvent({ payload: randomBytes(100) })), []);
});

test('auth failures: a burst per source address and per client id is blocked', () => {
  const policy = policyFromText('{"anomaly":{"authFailuresPerIp":4,"authFailuresPerClientId":3}}', 'test');
  const runtime = driver(policy);
  const denied = (clientId: string, i: number) =>
    packetEvent({
      packetType: 'CONNECT',
      clientId,
      authResult: 'denied',
      topic: null,
      payload: null,
      receivedAt: T0 + i * 1000,
    });
  assert.deepEqual(ruleIdsOf(runtime, denied('a', 0)), []);
  assert.deepEqual(ruleIdsOf(runtime, denied('a', 1)), []);
  assert.deepEqual(ruleIdsOf(runtime, denied('a', 2)), ['ANOM-AUTH-BURST-CLIENT']);
  assert.deepEqual(ruleIdsOf(runtime, denied('b', 3)), ['ANOM-AUTH-BURST-IP']);
});

test('auth failures: failures older than the window no longer count', () => {
  const policy = policyFromText('{"anomaly":{"authFailuresPerClientId":2}}', 'test');
  const runtime = driver(policy);
  const denied = (at: number) =>
    packetEvent({ packetType: 'CONNECT', authResult: 'denied', topic: null, payload: null, receivedAt: at });
  assert.deepEqual(ruleIdsOf(runtime, denied(T0)), []);
  assert.deepEqual(ruleIdsOf(runtime, denied(T0 + 120_000)), []);
});

test('connections: the 100th CONNECT within one second from one source is a rate anomaly', () => {
  const runtime = driver();
  const ids = Array.from({ length: 100 }, (_, i) =>
    ruleIdsOf(
      runtime,
      packetEvent({
        packetType: 'CONNECT',
        clientId: `c${i}`,
        authResult: 'allowed',
        topic: null,
        payload: null,
        receivedAt: T0 + i * 5,
      }),
    ),
  );
  assert.deepEqual(ids.slice(0, 99).flat(), []);
  assert.deepEqual(ids[99], ['ANOM-CONNECT-RATE']);
});
