import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SubscriptionIndex } from './subscription-index.js';

describe('SubscriptionIndex', () => {
  const cases: Array<[string, string, boolean]> = [
    ['sport/tennis/player1', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1', true],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
    ['sport/#', 'sport', true],
    ['#', 'sport/tennis', true],
    ['sport/tennis/+', 'sport/tennis/player1', true],
    ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
    ['sport/+', 'sport', false],
    ['sport/+', 'sport/', true],
    ['+/+', '/finance', true],
    ['/+', '/finance', true],
    ['+', '/finance', false],
    ['#', '$SYS/broker/load', false],
    ['+/monitor/Clients', '$SYS/monitor/Clients', false],
    ['$SYS/#', '$SYS/broker/load', true],
    ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
    ['clients/+/alerts', 'clients/dev-1/alerts', true],
    ['clients/dev-1/alerts', 'clients/dev-2/alerts', false],
  ];
  for (const [filter, topic, matches] of cases) {
    it(`${filter} ${matches ? 'matches' : 'does not match'} ${topic} (§4.7)`, () => {
      const index = new SubscriptionIndex<string>();
      index.add(filter, 'a', 1);
      assert.equal(index.match(topic).has('a'), matches);
    });
  }

  it('gives a subscriber the highest QoS of its overlapping filters', () => {
    const index = new SubscriptionIndex<string>();
    index.add('a/#', 's', 0);
    index.add('a/+', 's', 1);
    index.add('a/b', 'other', 2);
    assert.deepEqual([...index.match('a/b')].sort(), [
      ['other', 2],
      ['s', 1],
    ]);
  });

  it('forgets removed filters and prunes their branches', () => {
    const index = new SubscriptionIndex<string>();
    index.add('x/y/z', 's', 1);
    index.add('x/y', 't', 1);
    index.remove('x/y/z', 's');
    assert.equal(index.size, 1);
    assert.equal(index.match('x/y/z').size, 0);
    assert.deepEqual([...index.match('x/y')], [['t', 1]]);
    index.remove('x/y', 't');
    assert.equal(index.size, 0);
  });
});
