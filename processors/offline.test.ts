import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { InspectSummary, OfflineInspector, parseInspectLine } from './offline.js';
import { DEFAULT_POLICY, policyFromText } from './policy/policy.js';

const line = (fields: Record<string, unknown>) => JSON.stringify(fields);

describe('parseInspectLine', () => {
  it('reads text and base64 payloads, numeric ids and an optional time', () => {
    const text = parseInspectLine(line({ id: 7, client_id: 'd1', topic: 'devices/d1/t', payload: 'hé' }), 1);
    assert.equal(text.id, '7');
    assert.deepEqual(text.payload, Buffer.from('hé'));
    const binary = parseInspectLine(
      line({ id: 'x', client_id: 'd1', topic: 't', payload_base64: 'AAEC', received_at: 5 }),
      2,
    );
    assert.deepEqual(binary.payload, Buffer.from([0, 1, 2]));
    assert.equal(binary.receivedAt, 5);
  });

  it('refuses what it cannot read, naming the line and the field', () => {
    const refused = (text: string, message: RegExp) =>
      assert.throws(
        () => parseInspectLine(text, 9),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, 'SNT_INPUT_INVALID');
          assert.match(e.message, /^line 9: /);
          assert.match(e.message, message);
          return true;
        },
      );
    refused('{not json', /not JSON/);
    refused('[1]', /JSON object/);
    refused(line({ id: 'a', topic: 't', payload: 'p' }), /"client_id"/);
    refused(line({ id: 'a', client_id: 'd', topic: 't' }), /exactly one of/);
    refused(
      line({ id: 'a', client_id: 'd', topic: 't', payload: 'p', payload_base64: 'cA==' }),
      /exactly one/,
    );
    refused(line({ id: 'a', client_id: 'd', topic: 't', payload: 'p', received_at: 'now' }), /received_at/);
  });
});

describe('OfflineInspector', () => {
  it('decides as the chain does: injection blocked, telemetry allowed, encrypted text quarantined', () => {
    const inspector = new OfflineInspector({ policy: DEFAULT_POLICY });
    const sqli = inspector.inspect({
      id: '1',
      clientId: 'd1',
      topic: 'devices/d1/telemetry',
      payload: Buffer.from(JSON.stringify({ note: "x' OR '1'='1" })),
    });
    assert.equal(sqli.decision, 'block');
    assert.deepEqual(sqli.classes, ['sqli']);
    const plain = inspector.inspect({
      id: '2',
      clientId: 'd1',
      topic: 'devices/d1/telemetry',
      payload: Buffer.from('{"temp":21.5}'),
    });
    assert.deepEqual(
      { decision: plain.decision, findings: plain.findings },
      { decision: 'allow', findings: [] },
    );
    const sealed = inspector.inspect({
      id: '3',
      clientId: 'd2',
      topic: 'devices/d2/logs',
      payload: randomBytes(1024),
    });
    assert.equal(sealed.decision, 'quarantine');
    assert.deepEqual(sealed.classes, ['entropy']);
  });

  it('applies a candidate policy: the same case allowed once its rule is in shadow', () => {
    const shadowed = policyFromText(
      JSON.stringify({ rules: { 'ANOM-ENTROPY': { shadow: true } } }),
      'candidate.json',
    );
    const result = new OfflineInspector({ policy: shadowed }).inspect({
      id: '1',
      clientId: 'd1',
      topic: 'devices/d1/logs',
      payload: randomBytes(1024),
    });
    assert.equal(result.decision, 'allow');
    assert.equal(result.decisionIfEnforced, 'quarantine');
    assert.deepEqual(result.classes, [], 'a shadow finding does not act');
    assert.equal(result.findings[0]?.shadow, true);
  });

  it('keeps per-device state across the cases of one client id, spaced a second apart by default', () => {
    const inspector = new OfflineInspector({ policy: DEFAULT_POLICY });
    const publish = (receivedAt?: number) =>
      inspector.inspect({
        id: 'r',
        clientId: 'burst',
        topic: 'devices/burst/telemetry',
        payload: Buffer.from('{"v":1}'),
        ...(receivedAt === undefined ? {} : { receivedAt }),
      });
    for (let i = 0; i < 200; i++) assert.equal(publish().decision, 'allow', 'one a second is no burst');
    const at = Date.UTC(2026, 1, 1);
    const decisions = Array.from({ length: 150 }, (_, i) => publish(at + i).decision);
    assert.ok(decisions.includes('quarantine'), '150 within 150 ms is a rate anomaly');
  });
});

describe('InspectSummary', () => {
  it('counts decisions, acting classes and rules', () => {
    const summary = new InspectSummary();
    const inspector = new OfflineInspector({ policy: DEFAULT_POLICY });
    summary.add(
      inspector.inspect({
        id: '1',
        clientId: 'a',
        topic: 'devices/a/telemetry',
        payload: Buffer.from('{"t":1}'),
      }),
    );
    summary.add(
      inspector.inspect({
        id: '2',
        clientId: 'b',
        topic: 'devices/b/telemetry',
        payload: Buffer.from(JSON.stringify({ p: '../../../../etc/passwd' })),
      }),
    );
    const totals = summary.toJSON();
    assert.equal(totals.cases, 2);
    assert.deepEqual(totals.decisions, { allow: 1, quarantine: 0, block: 1 });
    assert.deepEqual(Object.keys(totals.classes), ['path-traversal']);
    assert.ok(Object.keys(totals.rules).length >= 1);
  });
});
