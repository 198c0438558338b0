import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Finding } from '../schemas/types.generated.js';
import { hexDump, locateEvidence, payloadView } from './payload-view.js';

const finding = (evidence: string, ruleId = 'R1'): Finding => ({
  ruleId,
  class: 'sqli',
  stage: 'patterns',
  severity: 'high',
  action: 'quarantine',
  evidence,
  location: 'payload',
  shadow: false,
});

describe('payload view', () => {
  it('text, pretty JSON and hex of a JSON payload, with the evidence located', () => {
    const view = payloadView(Buffer.from('{"name":"x\' OR 1=1 --"}'), [finding("' OR 1=1")]);
    assert.equal(view.text, '{"name":"x\' OR 1=1 --"}');
    assert.equal(view.json, '{\n  "name": "x\' OR 1=1 --"\n}');
    assert.match(
      view.hex,
      /^00000000 {2}7b 22 6e 61 6d 65 22 3a {2}22 78 27 20 4f 52 20 31 {2}\|\{"name":"x' OR 1\|/,
    );
    assert.deepEqual(view.highlights, [{ start: 10, end: 18, ruleId: 'R1' }]);
    assert.equal(Buffer.from(view.base64, 'base64').toString(), view.text);
  });

  it('binary is hex only; text that is not JSON has no JSON view', () => {
    const binary = payloadView(Buffer.from([0xff, 0xfe, 0x00, 0x41]), [finding('A')]);
    assert.equal(binary.text, null);
    assert.equal(binary.json, null);
    assert.deepEqual(binary.highlights, []);
    assert.equal(payloadView(Buffer.from('temp=21 {'), []).json, null);
  });

  it('evidence is found without case when not as written, every occurrence, and never when absent', () => {
    assert.deepEqual(
      locateEvidence('a UNION select b; union SELECT c', [finding('union select')]).map((h) => h.start),
      [2, 18],
    );
    assert.deepEqual(locateEvidence('nothing here', [finding('<script>')]), []);
  });

  it('the hex dump is bounded and says how much more there is', () => {
    const dump = hexDump(Buffer.alloc(100), 32);
    assert.equal(dump.split('\n').length, 3);
    assert.match(dump, /68 more bytes/);
  });
});
