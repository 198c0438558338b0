import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { DEFAULT_RULES } from './inspect/rules.js';
import { DEFAULT_POLICY, policyFromText } from './policy/policy.js';
import { emptyTally, mergeTally, PolicyReplay, reportOf } from './replay.js';
import { packetEvent, sessionOpened } from './test-events.js';

const current = { policy: DEFAULT_POLICY, rules: DEFAULT_RULES };
const flagEntropy = {
  policy: policyFromText(JSON.stringify({ rules: { 'ANOM-ENTROPY': { action: 'flag' } } }), 'candidate'),
  rules: DEFAULT_RULES,
};

function replayOf(devices: readonly string[]) {
  const replay = new PolicyReplay({ current, candidate: flagEntropy, examplesPerRule: 2 });
  for (const d of devices) {
    replay.add(sessionOpened(d));
    replay.add(
      packetEvent({ clientId: d, topic: `devices/${d}/telemetry`, payload: Buffer.from('{"t":1}') }),
    );
    replay.add(
      packetEvent({
        clientId: d,
        topic: `devices/${d}/logs`,
        payload: randomBytes(512),
        receivedAt: 1_700_000_001_000,
      }),
    );
  }
  return replay;
}

describe('PolicyReplay', () => {
  it('counts only the packets the candidate decides differently, by transition, acting rule and device', () => {
    const report = reportOf(replayOf(['a', 'b']).tally);
    assert.equal(report.packets, 6);
    assert.equal(report.changed, 2);
    assert.deepEqual(report.transitions, { 'quarantine -> allow': 2 });
    assert.equal(
      report.rules['ANOM-ENTROPY']?.removed,
      2,
      'the rule still fires, but as a flag it no longer acts',
    );
    assert.equal(report.rules['ANOM-ENTROPY']?.added, 0);
    assert.deepEqual(report.devices.map((d) => d.clientId).sort(), ['a', 'b']);
  });

  it('tallies from several workers add up, examples capped', () => {
    const total = emptyTally();
    mergeTally(total, replayOf(['a', 'b']).tally, 2);
    mergeTally(total, replayOf(['c']).tally, 2);
    const report = reportOf(total);
    assert.equal(report.packets, 9);
    assert.deepEqual(report.transitions, { 'quarantine -> allow': 3 });
    assert.equal(report.rules['ANOM-ENTROPY']?.removed, 3);
    assert.equal(report.rules['ANOM-ENTROPY']?.examples.length, 2);
  });
});
