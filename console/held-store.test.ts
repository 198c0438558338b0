import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HeldMessage, QuarantineDecision } from '../schemas/types.generated.js';
import { HeldStore, summaryOf } from './held-store.js';

function held(id: string, overrides: Partial<HeldMessage> = {}): HeldMessage {
  return {
    heldId: id,
    clientId: 'sensor-1',
    username: 'sensor-1',
    sourceIp: '127.0.0.1',
    proxyId: 'edge-a',
    topic: 'devices/sensor-1/telemetry',
    payload: Buffer.from(`{"id":"${id}"}`),
    qos: 1,
    retain: false,
    findings: [
      {
        ruleId: 'SQLI-942100',
        class: 'sqli',
        stage: 'patterns',
        severity: 'critical',
        action: 'quarantine',
        evidence: "' or 1=1",
        location: 'payload.json:$.id',
        shadow: false,
      },
    ],
    packetRef: { topic: 'sentinel.packets', partition: 0, offset: 1 },
    receivedAt: 1000,
    heldAt: 1010,
    ...overrides,
  };
}

function decision(
  heldId: string,
  action: QuarantineDecision['action'],
  operator = 'alice',
): QuarantineDecision {
  return {
    decisionId: `${heldId}-${action}-${operator}`,
    heldId,
    clientId: 'sensor-1',
    topic: 'devices/sensor-1/telemetry',
    action,
    operator,
    reason: 'because',
    heldAt: 1010,
    decidedAt: 2000,
  };
}

describe('HeldStore', () => {
  it('keeps the first held record of an id and the first decision: replays change nothing', () => {
    const store = new HeldStore();
    assert.equal(store.addHeld(held('a')), true);
    assert.equal(store.addHeld(held('a', { payload: Buffer.from('replayed') })), false);
    assert.equal(store.get('a')?.held.payload.toString(), '{"id":"a"}');
    assert.equal(store.applyDecision(decision('a', 'release')), true);
    assert.equal(store.applyDecision(decision('a', 'drop', 'bob')), false);
    assert.equal(store.get('a')?.decision?.action, 'release');
    assert.deepEqual(store.counts(), { held: 0, released: 1, dropped: 0, expired: 0 });
  });

  it('a decision read before its message waits for it', () => {
    const store = new HeldStore();
    assert.equal(store.applyDecision(decision('b', 'drop')), true);
    assert.equal(store.get('b'), undefined);
    store.addHeld(held('b'));
    assert.equal(summaryOf(store.get('b')!).status, 'dropped');
    assert.equal(store.pendingPayloadBytes, 0, 'a decided message is not counted as pending');
  });

  it('selects by status, client, rule and time, newest first, and pages', () => {
    const store = new HeldStore();
    store.addHeld(held('old', { heldAt: 100 }));
    store.addHeld(held('new', { heldAt: 300 }));
    store.addHeld(held('other', { heldAt: 200, clientId: 'sensor-2', findings: [] }));
    store.applyDecision(decision('old', 'expire', 'system'));
    assert.deepEqual(
      store.select({}).map((e) => e.held.heldId),
      ['new', 'other'],
      'held by default',
    );
    assert.deepEqual(
      store.select({ status: 'all' }).map((e) => e.held.heldId),
      ['new', 'other', 'old'],
    );
    assert.deepEqual(
      store.select({ status: 'all', clientId: 'sensor-1' }).map((e) => e.held.heldId),
      ['new', 'old'],
    );
    assert.deepEqual(
      store.select({ status: 'all', ruleId: 'SQLI-942100', since: 150 }).map((e) => e.held.heldId),
      ['new'],
    );
    assert.deepEqual(
      store.select({ status: 'expired', until: 150 }).map((e) => e.held.heldId),
      ['old'],
    );
    const page = store.page({ status: 'all' }, 1, 1);
    assert.equal(page.total, 3);
    assert.deepEqual(
      page.items.map((h) => h.heldId),
      ['other'],
    );
  });

  it('finds what waited too long, and forgets decisions past retention', () => {
    const store = new HeldStore();
    store.addHeld(held('a', { heldAt: 100 }));
    store.addHeld(held('b', { heldAt: 500 }));
    assert.deepEqual(
      store.heldBefore(200).map((e) => e.held.heldId),
      ['a'],
    );
    store.applyDecision({ ...decision('a', 'expire', 'system'), decidedAt: 250 });
    assert.equal(store.forgetDecidedBefore(300), 1);
    assert.equal(store.get('a'), undefined);
    assert.equal(store.size, 1);
  });

  it('counts the payload bytes still awaiting a decision', () => {
    const store = new HeldStore();
    store.addHeld(held('a', { payload: Buffer.alloc(100) }));
    store.addHeld(held('b', { payload: Buffer.alloc(50) }));
    assert.equal(store.pendingPayloadBytes, 150);
    store.applyDecision(decision('a', 'drop'));
    assert.equal(store.pendingPayloadBytes, 50);
  });

  it('keeps payloads in memory up to its bound: decided ones are let go first, then the oldest pending', () => {
    const store = new HeldStore(250);
    store.addHeld(held('p1', { payload: Buffer.alloc(100, 1) }));
    store.addHeld(held('d1', { payload: Buffer.alloc(100, 2) }));
    store.applyDecision(decision('d1', 'drop'));
    assert.equal(store.payloadBytesInMemory, 200);
    store.addHeld(held('p2', { payload: Buffer.alloc(100, 3) }));
    assert.equal(store.get('d1')?.payloadInMemory, false, 'the decided one goes first');
    assert.equal(store.get('p1')?.payloadInMemory, true);
    assert.equal(store.payloadBytesInMemory, 200);
    store.addHeld(held('p3', { payload: Buffer.alloc(100, 4) }));
    assert.equal(store.get('p1')?.payloadInMemory, false, 'then the oldest pending one');
    assert.equal(store.get('p1')?.held.payload.length, 0);
    assert.equal(summaryOf(store.get('p1')!).payloadSize, 100, 'the size is still known');
    assert.equal(store.pendingPayloadBytes, 300, 'pending counts every undecided payload, in memory or not');
    const back = store.restorePayload(store.get('p1')!, Buffer.alloc(100, 1));
    assert.equal(back.payloadInMemory, true);
    assert.equal(store.get('p1')?.payloadInMemory, false, 'restoring a copy does not grow the store');
  });

  it('a bound of 0 keeps no payload in memory at all', () => {
    const store = new HeldStore(0);
    store.addHeld(held('a'));
    assert.equal(store.get('a')?.payloadInMemory, false);
    assert.equal(store.payloadBytesInMemory, 0);
  });
});
