import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import {
  type CredentialMaterial,
  credentialTag,
  parseCachedDecision,
  RedisInvalidationFeed,
  type SubscriberConnection,
} from './decision-cache.js';

describe('credentialTag binds the exact credentials', () => {
  const base: CredentialMaterial = { clientId: 'dev-1', username: 'fleet', password: 'secret-1' };
  const different: Array<[string, CredentialMaterial]> = [
    ['another password', { ...base, password: 'secret-2' }],
    ['another user name', { ...base, username: 'fleet2' }],
    ['another client id', { ...base, clientId: 'dev-2' }],
    ['bytes moved between fields', { clientId: 'dev-1f', username: 'leet', password: 'secret-1' }],
    ['an empty user name instead of none', { clientId: 'dev-1', username: '', password: 'secret-1' }],
    ['a certificate CN with the same text', { clientId: 'dev-1', certificateCn: 'secret-1' }],
  ];
  for (const [what, other] of different) {
    it(`differs for ${what}`, () => {
      assert.notEqual(credentialTag('k'.repeat(32), base), credentialTag('k'.repeat(32), other));
    });
  }
  it('is the same for a string and its UTF-8 bytes, and differs per secret', () => {
    const bytes = { ...base, password: Buffer.from('secret-1') };
    assert.equal(credentialTag('a'.repeat(32), base), credentialTag('a'.repeat(32), bytes));
    assert.notEqual(credentialTag('a'.repeat(32), base), credentialTag('b'.repeat(32), base));
  });
  it('never contains the password', () => {
    assert.doesNotMatch(credentialTag('k', base), /secret/);
  });
});

describe('parseCachedDecision: anything unexpected is a miss, never an allow', () => {
  const cases: Array<[string, unknown]> = [
    [
      '{"allow":true,"acls":{"publish":["a"],"subscribe":[]}}',
      { allow: true, acls: { publish: ['a'], subscribe: [] } },
    ],
    ['{"allow":false,"reason":"disabled"}', { allow: false, reason: 'disabled' }],
    ['{"allow":true}', undefined],
    ['{"allow":true,"acls":{"publish":[1],"subscribe":[]}}', undefined],
    ['{"allow":"yes","acls":{"publish":[],"subscribe":[]}}', undefined],
    ['{"allow":false,"reason":"whatever"}', undefined],
    ['null', undefined],
    ['not json', undefined],
  ];
  for (const [json, expected] of cases) {
    it(`${json} -> ${expected === undefined ? 'miss' : 'decision'}`, () => {
      assert.deepEqual(parseCachedDecision(json), expected);
    });
  }
});

/** An ioredis subscriber as the feed sees it: events the test emits, SUBSCRIBEs it answers. */
class FakeSubscriber extends EventEmitter implements SubscriberConnection {
  readonly subscribes: Array<() => void> = [];
  subscribe(_channel: string): Promise<unknown> {
    return new Promise((resolve) => this.subscribes.push(() => resolve(1)));
  }
}

describe('RedisInvalidationFeed', () => {
  function setup() {
    const subscriber = new FakeSubscriber();
    const feed = new RedisInvalidationFeed(subscriber, 'p:');
    const heard: string[] = [];
    feed.watch({ device: (id) => heard.push(id), all: () => heard.push('*all*') });
    return { subscriber, feed, heard };
  }

  it('passes on the client ids published on <prefix>invalidations, and nothing from other channels', () => {
    const { subscriber, heard } = setup();
    subscriber.emit('message', 'p:invalidations', 'dev-1');
    subscriber.emit('message', 'other', 'dev-2');
    assert.deepEqual(heard, ['dev-1']);
  });

  it('after a cut, tells listeners to drop everything once the subscription is confirmed again', async () => {
    const { subscriber, heard } = setup();
    subscriber.emit('ready');
    assert.deepEqual(heard, [], 'the first connection is no cut');
    subscriber.emit('close');
    subscriber.emit('ready');
    assert.deepEqual(heard, [], 'not before Redis confirmed the SUBSCRIBE');
    subscriber.subscribes.at(-1)?.();
    await Promise.resolve();
    assert.deepEqual(heard, ['*all*']);
  });

  it('a listener that stopped watching hears nothing', () => {
    const { subscriber, feed } = setup();
    const late: string[] = [];
    const stop = feed.watch({ device: (id) => late.push(id), all: () => undefined });
    stop();
    subscriber.emit('message', 'p:invalidations', 'dev-1');
    assert.deepEqual(late, []);
  });
});
