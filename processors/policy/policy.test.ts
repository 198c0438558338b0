import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSentinelError } from '../../lib/errors.js';
import { DEFAULT_POLICY, policyFromText, ruleDisposition } from './policy.js';

test('the shipped policy carries the seed thresholds', () => {
  assert.equal(DEFAULT_POLICY.mode, 'enforce');
  assert.equal(DEFAULT_POLICY.anomaly.sizeAbsoluteMaxBytes, 10240);
  assert.equal(DEFAULT_POLICY.anomaly.entropyMaxBitsPerByte, 7.5);
  assert.equal(DEFAULT_POLICY.anomaly.connectionsPerSourcePerSecond, 100);
});

test('a policy file gives only what it changes; the rest comes from the defaults', () => {
  const policy = policyFromText(
    '{"mode":"shadow","anomaly":{"authFailuresPerIp":3},"rules":{"XSS-941200":{"shadow":true}}}',
    'ops.json',
  );
  assert.equal(policy.mode, 'shadow');
  assert.equal(policy.anomaly.authFailuresPerIp, 3);
  assert.equal(policy.anomaly.authFailuresPerClientId, DEFAULT_POLICY.anomaly.authFailuresPerClientId);
  assert.deepEqual(policy.rules['XSS-941200'], { shadow: true });
});

const refusals: Array<[string, string, RegExp]> = [
  ['an unknown key', '{"anomaly":{"entropyMax":7}}', /anomaly\.entropyMax is not a known setting/],
  [
    'a wrong type',
    '{"patterns":{"scoreThreshold":"5"}}',
    /patterns\.scoreThreshold must be a non-negative number/,
  ],
  ['an unknown mode', '{"mode":"learn"}', /mode must be one of enforce, shadow/],
  [
    'an unknown action',
    '{"rules":{"SQLI-942100":{"action":"drop"}}}',
    /rules\.SQLI-942100\.action must be one of/,
  ],
  [
    'an unknown payload format',
    '{"validation":{"payloadRules":[{"topic":"a/#","formats":["xml"],"maxBytes":1,"entropyExempt":false}]}}',
    /payloadRules\[0\]\.formats\[0\]/,
  ],
  ['invalid JSON', '{mode:', /not valid JSON/],
];

for (const [name, text, message] of refusals) {
  test(`refuses a policy with ${name}, naming the path`, () => {
    assert.throws(
      () => policyFromText(text, 'ops.json'),
      (err: unknown) => isSentinelError(err, 'SNT_CONFIG_INVALID') && message.test(err.message),
    );
  });
}

test('global shadow mode makes every rule shadow; a rule override sets its action', () => {
  const shadow = policyFromText('{"mode":"shadow"}', 'x');
  assert.equal(ruleDisposition(shadow, 'SQLI-942100', 'block').shadow, true);
  const custom = policyFromText('{"rules":{"ANOM-ENTROPY":{"action":"quarantine"}}}', 'x');
  assert.deepEqual(ruleDisposition(custom, 'ANOM-ENTROPY', 'flag'), {
    action: 'quarantine',
    shadow: false,
    enabled: true,
  });
});
