import type { HeldDetail, HeldSummary, Principal } from '../model.js';

/** Made-up console data for the views' tests, the browser tests and the docs' screenshots. */

export const operator: Principal = { name: 'alice', role: 'operator', via: 'session' };
export const viewer: Principal = { name: 'victor', role: 'viewer', via: 'session' };

export const sampleCsrfToken = 'csrf-token-1234';

const at = Date.UTC(2026, 11, 6, 10, 31, 5, 123);

export function sampleHeld(overrides: Partial<HeldSummary> = {}): HeldSummary {
  return {
    heldId: 'evt-0001',
    clientId: 'sensor-17',
    topic: 'plant/line-2/telemetry',
    qos: 1,
    retain: false,
    sourceIp: '10.20.0.17',
    payloadSize: 1536,
    receivedAt: at - 40,
    heldAt: at,
    ruleIds: ['sqli-union-select'],
    classes: ['sqli'],
    status: 'held',
    decision: null,
    ...overrides,
  };
}

export function sampleDetail(overrides: Partial<HeldDetail> = {}): HeldDetail {
  const text = '{"cmd":"1 UNION SELECT password FROM users"}';
  const start = text.indexOf('UNION');
  return {
    ...sampleHeld(),
    username: 'line2-gateway',
    proxyId: 'edge-a',
    packetRef: { topic: 'sentinel.packets', partition: 3, offset: 41_207 },
    findings: [
      {
        ruleId: 'sqli-union-select',
        class: 'sqli',
        stage: 'patterns',
        severity: 'high',
        action: 'quarantine',
        evidence: 'UNION SELECT',
        location: 'payload.json:$.cmd',
        shadow: false,
      },
    ],
    payload: {
      size: text.length,
      base64: Buffer.from(text).toString('base64'),
      text,
      json: JSON.stringify(JSON.parse(text), null, 2),
      hex: '00000000  7b 22 63 6d 64 22 3a 22  31 20 55 4e 49 4f 4e 20  |{"cmd":"1 UNION |',
      highlights: [{ start, end: start + 'UNION SELECT'.length, ruleId: 'sqli-union-select' }],
    },
    ...overrides,
  };
}
