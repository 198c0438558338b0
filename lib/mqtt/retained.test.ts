import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeRetained, encodeRetained, RetainedIndex } from './retained.js';
import { topicMatchesFilter } from './topic-filter.js';

const message = (text: string, qos: 0 | 1 | 2 = 1) => ({ qos, payload: Buffer.from(text) });
const topicsOf = (found: Array<[string, unknown]>) => found.map(([topic]) => topic).sort();

describe('RetainedIndex', () => {
  const index = new RetainedIndex(1024 * 1024);
  for (const topic of ['TopicA', 'TopicA/B', 'Topic/C', 'TopicA/C', '/TopicA', '$SYS/broker/load', 'a/b/c/d'])
    index.set(topic, message(topic));

  it('matches filters as §4.7 does, the Paho interoperability topics included', () => {
    assert.deepEqual(topicsOf(index.match('+/+')), ['/TopicA', 'Topic/C', 'TopicA/B', 'TopicA/C']);
    assert.deepEqual(topicsOf(index.match('TopicA/#')), ['TopicA', 'TopicA/B', 'TopicA/C']);
    assert.deepEqual(topicsOf(index.match('/#')), ['/TopicA']);
    assert.deepEqual(topicsOf(index.match('+/C')), ['Topic/C', 'TopicA/C']);
    assert.deepEqual(topicsOf(index.match('TopicA')), ['TopicA']);
    assert.deepEqual(topicsOf(index.match('a/+/c/#')), ['a/b/c/d']);
  });

  it("does not give '$' topics to a filter starting with a wildcard (MQTT-4.7.2-1)", () => {
    assert.equal(topicsOf(index.match('#')).includes('$SYS/broker/load'), false);
    assert.equal(topicsOf(index.match('+/broker/+')).length, 0);
    assert.deepEqual(topicsOf(index.match('$SYS/#')), ['$SYS/broker/load']);
  });

  it('replaces, deletes and prunes', () => {
    const small = new RetainedIndex(1024);
    small.set('x/y', message('one'));
    small.set('x/y', message('two', 2));
    assert.deepEqual(small.get('x/y'), message('two', 2));
    assert.equal(small.size, 1);
    small.delete('x/y');
    assert.equal(small.get('x/y'), undefined);
    assert.equal(small.size, 0);
    assert.equal(small.bytes, 0);
    assert.deepEqual(small.topics(), []);
  });

  it('keeps nothing beyond its byte bound, and a replacement that does not fit removes the old message', () => {
    const bounded = new RetainedIndex(20);
    assert.equal(bounded.set('t', message('123456789')), true);
    assert.equal(bounded.set('u', message('1234567890123')), false);
    assert.equal(bounded.get('u'), undefined);
    assert.equal(bounded.set('t', message('x'.repeat(30))), false);
    assert.equal(bounded.get('t'), undefined);
    assert.equal(bounded.bytes, 0);
  });

  it('finds exactly the topics topicMatchesFilter accepts (property)', () => {
    const level = fc.constantFrom('a', 'b', '', '$x');
    const topic = fc.array(level, { minLength: 1, maxLength: 4 }).map((levels) => levels.join('/'));
    const filterLevel = fc.constantFrom('a', 'b', '', '+', '$x');
    const filter = fc
      .tuple(fc.array(filterLevel, { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'));
    fc.assert(
      fc.property(fc.uniqueArray(topic, { maxLength: 12 }), filter, (topics, f) => {
        const subject = new RetainedIndex(1 << 20);
        for (const t of topics) subject.set(t, message(t));
        const expected = topics.filter((t) => topicMatchesFilter(t, f)).sort();
        assert.deepEqual(topicsOf(subject.match(f)), expected);
      }),
    );
  });
});

describe('retained value encoding', () => {
  it('round-trips QoS and payload, and refuses what it cannot read', () => {
    const value = encodeRetained({ qos: 2, payload: Buffer.from('on') });
    assert.deepEqual(decodeRetained(value), { qos: 2, payload: Buffer.from('on') });
    assert.equal(decodeRetained(Buffer.from([7, 1])), undefined);
  });
});

describe('RetainedIndex bounds', () => {
  it('keeps no topic deeper than 256 levels (the walks recurse per level)', () => {
    const index = new RetainedIndex(1 << 20);
    assert.equal(index.set(Array.from({ length: 257 }, () => 'a').join('/'), message('deep')), false);
    assert.equal(index.set(Array.from({ length: 256 }, () => 'a').join('/'), message('ok')), true);
  });
});
