import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { DeviceAclPolicy, expandPattern, isSubstitutable } from './acl.js';

describe('pattern substitution', () => {
  const identity = { clientId: 'dev-1', username: 'fleet-a' };
  const cases: Array<
    [pattern: string, clientId: string, username: string | undefined, expected: string | undefined]
  > = [
    ['devices/%c/up', 'dev-1', 'u', 'devices/dev-1/up'],
    ['fleet/%u/%c', 'dev-1', 'fleet-a', 'fleet/fleet-a/dev-1'],
    ['dev-%c', 'x', undefined, 'dev-x'],
    ['plain/topic', 'a/b', undefined, 'plain/topic'],
    ['devices/%c', 'a/b', undefined, undefined],
    ['devices/%c', 'a+', undefined, undefined],
    ['devices/%c', 'a#', undefined, undefined],
    ['devices/%c', '', undefined, undefined],
    ['%c/data', '$SYS', undefined, undefined],
    ['users/%u', 'dev-1', undefined, undefined],
    ['users/%u', 'dev-1', 'x/y', undefined],
    ['devices/%c', '%u', 'evil', 'devices/%u'],
    ['100%/%c', 'd', undefined, '100%/d'],
  ];
  for (const [pattern, clientId, username, expected] of cases) {
    it(`"${pattern}" with client id "${clientId}", user ${username ?? '(none)'} -> ${expected ?? 'grants nothing'}`, () => {
      assert.equal(expandPattern(pattern, { clientId, username }), expected);
    });
  }
  it('never substitutes a value with a level separator or wildcard', () => {
    fc.assert(
      fc.property(fc.string(), (value) => {
        if (isSubstitutable(value)) assert.doesNotMatch(value, /[/+#]/);
      }),
    );
  });
  it('keeps identity values out of the pattern when they are unsafe', () => {
    assert.equal(expandPattern('x/%c', { ...identity, clientId: 'a/#' }), undefined);
  });
});

describe('DeviceAclPolicy', () => {
  const identity = { clientId: 'dev-1', username: 'fleet-a' };
  const policy = new DeviceAclPolicy(
    {
      publish: ['devices/%c/telemetry', 'devices/%c/events/+', 'fleet/%u/#'],
      subscribe: ['clients/%c/alerts', 'fleet/%u/config/#', 'broadcast/+'],
    },
    identity,
  );

  const publishCases: Array<[string, boolean]> = [
    ['devices/dev-1/telemetry', true],
    ['devices/dev-1/events/boot', true],
    ['devices/dev-2/telemetry', false],
    ['devices/dev-1/events/boot/extra', false],
    ['fleet/fleet-a/anything/below', true],
    ['fleet/fleet-b/x', false],
    ['$SYS/broker/clients', false],
    ['other', false],
  ];
  for (const [topic, allowed] of publishCases) {
    it(`publish "${topic}" -> ${allowed ? 'allowed' : 'denied'}`, () => {
      assert.equal(policy.canPublish(topic), allowed);
    });
  }

  const subscribeCases: Array<[string, boolean]> = [
    ['clients/dev-1/alerts', true],
    ['clients/dev-2/alerts', false],
    ['clients/+/alerts', false],
    ['fleet/fleet-a/config/#', true],
    ['fleet/fleet-a/config/+/x', true],
    ['fleet/fleet-a/#', false],
    ['broadcast/news', true],
    ['broadcast/#', false],
    ['#', false],
    ['$SYS/#', false],
  ];
  for (const [filter, allowed] of subscribeCases) {
    it(`subscribe "${filter}" -> ${allowed ? 'allowed' : 'denied'}`, () => {
      assert.equal(policy.canSubscribe(filter), allowed);
    });
  }

  it('denies everything when the device has no patterns', () => {
    const none = new DeviceAclPolicy({ publish: [], subscribe: [] }, identity);
    assert.equal(none.canPublish('a'), false);
    assert.equal(none.canSubscribe('a'), false);
  });

  it('grants a bare "#" subscription only through a bare "#" pattern', () => {
    assert.equal(new DeviceAclPolicy({ publish: [], subscribe: ['+/#'] }, identity).canSubscribe('#'), false);
    assert.equal(new DeviceAclPolicy({ publish: [], subscribe: ['#'] }, identity).canSubscribe('#'), true);
  });

  it('opens $SYS only through a pattern that names it', () => {
    const wide = new DeviceAclPolicy({ publish: ['#'], subscribe: ['#'] }, identity);
    assert.equal(wide.canPublish('$SYS/x'), false);
    assert.equal(wide.canSubscribe('$SYS/#'), false);
    const sys = new DeviceAclPolicy({ publish: [], subscribe: ['$SYS/broker/#'] }, identity);
    assert.equal(sys.canSubscribe('$SYS/broker/load/+'), true);
    assert.equal(sys.canSubscribe('$SYS/#'), false);
  });

  it('grants nothing through %c when the client id could change the pattern', () => {
    const policyFor = (clientId: string) =>
      new DeviceAclPolicy({ publish: ['devices/%c/up'], subscribe: ['devices/%c/#'] }, { clientId });
    assert.equal(policyFor('a/b').canPublish('devices/a/b/up'), false);
    assert.equal(policyFor('+').canSubscribe('devices/+/#'), false);
    assert.equal(policyFor('#').canSubscribe('devices/#'), false);
  });
});

describe("DeviceAclPolicy in 'overlap' mode (Mosquitto's model)", () => {
  const identity = { clientId: 'dev-1' };
  const acls = { publish: [], subscribe: ['TopicA/#', 'Topic/#', '/#', 'devices/%c/#'] };
  const overlap = new DeviceAclPolicy(acls, identity, 'overlap');
  const cover = new DeviceAclPolicy(acls, identity);

  it('grants a filter that can deliver something readable, refuses one that can deliver nothing', () => {
    for (const [filter, granted] of [
      ['+/+', true],
      ['#', true],
      ['devices/+/note', true],
      ['test/nosubscribe', false],
      ['devices/dev-2/#', false],
      ['$SYS/#', false],
    ] as const)
      assert.equal(overlap.canSubscribe(filter), granted, filter);
  });

  it('cover mode (the default) refuses the wide ones overlap grants', () => {
    assert.equal(cover.canSubscribe('+/+'), false);
    assert.equal(cover.canSubscribe('devices/+/note'), false);
    assert.equal(cover.canSubscribe('devices/dev-1/note'), true);
  });

  it('every delivery is checked: only topics a pattern matches are readable', () => {
    assert.equal(overlap.canRead('devices/dev-1/note'), true);
    assert.equal(overlap.canRead('devices/dev-2/note'), false);
    assert.equal(overlap.canRead('TopicA'), true);
    assert.equal(overlap.canRead('test/nosubscribe'), false);
  });
});
