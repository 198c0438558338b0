import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_POLICY, policyFromText } from '../policy/policy.js';
import { MemoryRuntime } from '../runtime/memory.js';
import { packetEvent, sessionOpened } from '../test-events.js';
import { buildTopology } from '../topology.js';
import { ADMISSION_RULES } from './admission.js';

function chain(policy = DEFAULT_POLICY): MemoryRuntime {
  return new MemoryRuntime({ steps: buildTopology({ policy }) });
}

const rulesOf = (runtime: MemoryRuntime) => runtime.verdicts.at(-1)!.findings.map((f) => f.ruleId);

describe('admission: what the edge refused stays refused', () => {
  const refused = [
    { refusal: 'acl_denied', edgeAction: 'acl_denied:acked_and_dropped', topic: 'devices/d2/telemetry' },
    { refusal: 'acl_denied', edgeAction: 'will:acl_denied', topic: 'devices/d2/status', retain: true },
    { refusal: 'rate_limited', edgeAction: 'rate_limited:client:ack-and-drop', payload: null },
    // Even a refused PUBLISH on a topic its ACL allows, with a payload, stays refused.
    { refusal: 'rate_limited', edgeAction: 'rate_limited:publish:drop' },
  ];
  for (const overrides of refused) {
    it(`${overrides.edgeAction}: block, never approved, in enforce and in shadow mode`, () => {
      for (const policy of [DEFAULT_POLICY, policyFromText('{"mode":"shadow"}', 'shadow')]) {
        const runtime = chain(policy);
        runtime.pipe(sessionOpened('d1'));
        runtime.pipe(packetEvent(overrides));
        const verdict = runtime.verdicts.at(-1)!;
        assert.equal(verdict.decision, 'block');
        assert.ok(verdict.findings.some((f) => f.ruleId === ADMISSION_RULES.edgeRefused && !f.shadow));
        assert.deepEqual(runtime.approved, []);
      }
    });
  }

  it('a refused CONNECT and a MALFORMED event are blocked with the edge reason as evidence', () => {
    const runtime = chain();
    runtime.pipe(
      packetEvent({
        packetType: 'CONNECT',
        topic: null,
        payload: null,
        authResult: 'denied',
        refusal: 'auth_denied',
        edgeAction: 'auth_denied:bad_password',
      }),
    );
    assert.equal(runtime.verdicts[0]!.decision, 'block');
    assert.match(
      runtime.verdicts[0]!.findings.find((f) => f.ruleId === 'EDGE-REFUSED')!.evidence,
      /bad_password/,
    );
    runtime.pipe(
      packetEvent({
        packetType: 'MALFORMED',
        topic: null,
        payload: null,
        refusal: 'protocol',
        malformedReason: 'SNT_MQTT_PACKET_TOO_LARGE',
        edgeAction: 'closed',
      }),
    );
    assert.equal(runtime.verdicts[1]!.decision, 'block');
  });

  it('a PUBLISH recorded without its payload is never approved', () => {
    const runtime = chain();
    runtime.pipe(sessionOpened('d1'));
    runtime.pipe(packetEvent({ payload: null }));
    assert.deepEqual(rulesOf(runtime), [ADMISSION_RULES.payloadWithheld]);
    assert.deepEqual(runtime.approved, []);
  });

  it('no policy can turn an admission rule off or down', () => {
    for (const rule of Object.values(ADMISSION_RULES)) {
      assert.throws(
        () => policyFromText(JSON.stringify({ rules: { [rule]: { action: 'flag' } } }), 'p.json'),
        new RegExp(`rules\\.${rule}.*is not policy`),
      );
    }
  });
});

describe('admission: every PUBLISH is checked against its session ACL again', () => {
  it('inside the session ACL: no admission finding, approved', () => {
    const runtime = chain();
    runtime.pipe(sessionOpened('d1', ['devices/d1/telemetry', 'fleet/+/status']));
    runtime.pipe(packetEvent({ topic: 'devices/d1/telemetry' }));
    assert.deepEqual(rulesOf(runtime), []);
    assert.equal(runtime.approved.length, 1);
  });

  it('outside it (the edge ACL narrower than the topic policy): blocked even though the edge let it pass', () => {
    const runtime = chain();
    runtime.pipe(sessionOpened('d1', ['devices/d1/telemetry']));
    runtime.pipe(packetEvent({ topic: 'devices/d1/firmware', retain: true, payload: Buffer.alloc(0) }));
    assert.deepEqual(rulesOf(runtime), [ADMISSION_RULES.aclPublish]);
    assert.equal(runtime.verdicts.at(-1)!.decision, 'block');
    assert.deepEqual(runtime.approved, [], 'an empty retained PUBLISH cannot clear the origin topic');
  });

  it('no accepted session known: fail closed', () => {
    const runtime = chain();
    runtime.pipe(packetEvent());
    assert.deepEqual(rulesOf(runtime), [ADMISSION_RULES.aclNoSession]);
    assert.deepEqual(runtime.approved, []);
  });

  it('an accepted CONNECT without an ACL record grants nothing', () => {
    const runtime = chain();
    runtime.pipe(sessionOpened('d1', [], { acl: null }));
    runtime.pipe(packetEvent());
    assert.deepEqual(rulesOf(runtime), [ADMISSION_RULES.aclNoSession]);
  });

  it('a refused CONNECT with the same client id leaves the session in force unchanged', () => {
    const runtime = chain();
    runtime.pipe(sessionOpened('d1', ['devices/d1/#']));
    runtime.pipe(
      sessionOpened('d1', ['#'], {
        authResult: 'denied',
        refusal: 'auth_denied',
        edgeAction: 'auth_denied:bad_password',
      }),
    );
    runtime.pipe(packetEvent({ topic: 'devices/d1/telemetry' }));
    assert.equal(runtime.approved.length, 1);
    runtime.pipe(packetEvent({ topic: 'devices/d2/telemetry' }));
    assert.ok(rulesOf(runtime).includes(ADMISSION_RULES.aclPublish));
  });

  it('a new accepted session replaces the ACL of the previous one', () => {
    const runtime = chain();
    runtime.pipe(sessionOpened('d1', ['devices/d1/#']));
    runtime.pipe(sessionOpened('d1', ['devices/d1/telemetry']));
    runtime.pipe(packetEvent({ topic: 'devices/d1/logs' }));
    assert.deepEqual(rulesOf(runtime), [ADMISSION_RULES.aclPublish]);
  });

  it('in shadow mode too, and MQTT-4.7.2-1 holds: # does not grant $ topics', () => {
    const runtime = chain(policyFromText('{"mode":"shadow"}', 'shadow'));
    runtime.pipe(sessionOpened('d1', ['#']));
    runtime.pipe(packetEvent({ topic: '$SYS/broker/clients' }));
    assert.ok(rulesOf(runtime).includes(ADMISSION_RULES.aclPublish));
    assert.equal(runtime.verdicts.at(-1)!.decision, 'block');
    assert.deepEqual(runtime.approved, []);
  });
});
