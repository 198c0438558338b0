import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressKeyOf, PendingConnects, type PendingSlot } from './pending-connects.js';

function admitted(slot: ReturnType<PendingConnects['admit']>): PendingSlot {
  assert.equal(typeof slot, 'object', `refused: ${String(slot)}`);
  return slot as PendingSlot;
}

describe('PendingConnects', () => {
  it('refuses the socket over the bound of one address, and admits another address meanwhile', () => {
    const pending = new PendingConnects({ maxTotal: 10, maxPerAddress: 2 });
    admitted(pending.admit('10.0.0.1'));
    admitted(pending.admit('10.0.0.1'));
    assert.equal(pending.admit('10.0.0.1'), 'pending_connects_per_address');
    admitted(pending.admit('10.0.0.2'));
    assert.equal(pending.size, 3);
  });

  it('refuses the socket over the total, whatever its address', () => {
    const pending = new PendingConnects({ maxTotal: 3, maxPerAddress: 2 });
    for (const address of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) admitted(pending.admit(address));
    assert.equal(pending.admit('10.0.0.4'), 'pending_connects');
    assert.equal(pending.admit(undefined), 'pending_connects');
  });

  it('gives a place back once per slot, and keeps nothing for an address without pending sockets', () => {
    const changes: number[] = [];
    const pending = new PendingConnects({ maxTotal: 10, maxPerAddress: 1 }, (n) => changes.push(n));
    const slot = admitted(pending.admit('10.0.0.1'));
    slot.release();
    slot.release();
    assert.equal(pending.size, 0);
    assert.equal(pending.addresses, 0, 'the address entry is gone');
    assert.deepEqual(changes, [1, 0]);
    admitted(pending.admit('10.0.0.1'));
  });

  it('counts a socket behind a balancer in the total first, then against the address its PROXY header states', () => {
    const pending = new PendingConnects({ maxTotal: 10, maxPerAddress: 1 });
    const first = admitted(pending.admit(undefined));
    const second = admitted(pending.admit(undefined));
    assert.equal(pending.addresses, 0);
    assert.equal(first.assignAddress('198.51.100.7'), undefined);
    assert.equal(second.assignAddress('198.51.100.7'), 'pending_connects_per_address');
    assert.equal(pending.size, 2, 'a refused assignment keeps its slot until its socket closes');
    second.release();
    first.release();
    assert.deepEqual([pending.size, pending.addresses], [0, 0]);
  });

  it('releases a slot released before its address was assigned without touching any address', () => {
    const pending = new PendingConnects({ maxTotal: 10, maxPerAddress: 1 });
    const slot = admitted(pending.admit(undefined));
    slot.release();
    assert.equal(slot.assignAddress('198.51.100.7'), undefined);
    assert.deepEqual([pending.size, pending.addresses], [0, 0]);
  });
});

describe('addressKeyOf: the address a bound counts under', () => {
  const rows: Array<[string, string]> = [
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
  ];
  for (const [address, key] of rows) {
    it(`${address} -> ${key}`, () => assert.equal(addressKeyOf(address), key));
  }
});
