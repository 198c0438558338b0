import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AddressFailureThrottle, addressKey } from './failure-throttle.js';

function setup(burst = 3, perMinute = 6) {
  const clock = { now: 0 };
  const throttle = new AddressFailureThrottle({ burst, perMinute, maxAddresses: 100, now: () => clock.now });
  /** One CONNECT that needs the KDF: admitted or not, then its outcome. */
  const attempt = (address: string, failed: boolean) => {
    const admitted = throttle.admit(address);
    if (admitted) throttle.settle(address, failed);
    return admitted;
  };
  return { throttle, clock, attempt };
}

describe('AddressFailureThrottle', () => {
  it('throttles an address after `burst` failures and forgives `perMinute`', () => {
    const { clock, attempt } = setup(3, 6);
    assert.deepEqual(
      [1, 2, 3, 4].map(() => attempt('198.51.100.7', true)),
      [true, true, true, false],
    );
    clock.now += 9_999;
    assert.equal(attempt('198.51.100.7', true), false, '6/min: one failure forgiven per 10 s');
    clock.now += 1;
    assert.equal(attempt('198.51.100.7', true), true);
  });

  it('never throttles successes, and another address is not affected', () => {
    const { attempt } = setup(2);
    for (let i = 0; i < 100; i++) assert.equal(attempt('198.51.100.7', false), true);
    attempt('203.0.113.9', true);
    attempt('203.0.113.9', true);
    assert.equal(attempt('203.0.113.9', false), false);
    assert.equal(attempt('198.51.100.7', true), true);
  });

  it('lets concurrent CONNECTs from one address through (devices behind a NAT); only failures count', () => {
    const { throttle } = setup(2);
    assert.deepEqual(
      Array.from({ length: 250 }, () => throttle.admit('198.51.100.7')).filter(Boolean).length,
      250,
    );
    for (let i = 0; i < 250; i++) throttle.settle('198.51.100.7', false);
    assert.equal(throttle.admit('198.51.100.7'), true, 'successes take nothing');
    throttle.settle('198.51.100.7', true);
    throttle.settle('198.51.100.7', true);
    assert.equal(throttle.admit('198.51.100.7'), false, 'two failures empty a burst of 2');
  });

  it('with burst 0 is off', () => {
    const { attempt, throttle } = setup(0);
    for (let i = 0; i < 50; i++) assert.equal(attempt('198.51.100.7', true), true);
    assert.equal(throttle.size, 0);
  });

  it('counts an IPv6 /64 as one address', () => {
    const { attempt } = setup(2);
    attempt('2001:db8:1:2::1', true);
    attempt('2001:db8:1:2:ffff::9', true);
    assert.equal(attempt('2001:db8:1:2:aaaa:bbbb:cccc:dddd', true), false);
    assert.equal(attempt('2001:db8:1:3::1', true), true);
  });

  const keys: Array<[string, string]> = [
    ['198.51.100.7', '198.51.100.7'],
    ['::ffff:198.51.100.7', '198.51.100.7'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:0003:0004:0005:0006', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
  ];
  for (const [address, key] of keys) {
    it(`addressKey(${address}) = ${key}`, () => assert.equal(addressKey(address), key));
  }
});
