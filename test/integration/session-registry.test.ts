import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { SessionRegistry, type Takeover } from '../../ingest/session-registry.js';
import { createLogger } from '../../lib/log.js';
import { uniqueName } from '../helpers/platform.js';
import { deleteKeysWithPrefix } from '../helpers/redis-keys.js';

/**
 * The session registry on the machine's Redis, under a key prefix (and so a takeover channel) of
 * this run's own. CleanSession 1 claims leave in batches; these tests hold the orderings that
 * batching must keep.
 */
describe('SessionRegistry on Redis', () => {
  const url = 'redis://127.0.0.1:6379';
  const keyPrefix = `${uniqueName('session-registry')}:`;
  const connections: Redis[] = [];
  const takeovers: Array<{ proxy: string; takeover: Takeover }> = [];
  let admin: Redis;

  async function proxy(proxyId: string): Promise<SessionRegistry> {
    const redis = new Redis(url, { enableAutoPipelining: true });
    const subscriber = new Redis(url);
    connections.push(redis, subscriber);
    const registry = new SessionRegistry({
      redis,
      subscriber,
      keyPrefix,
      proxyId,
      log: createLogger({ name: 'session-registry-test', level: 'silent' }),
      registry: new Registry(),
      onTakeover: (takeover) => takeovers.push({ proxy: proxyId, takeover }),
    });
    await registry.start();
    return registry;
  }

  const owner = (clientId: string) => admin.get(`${keyPrefix}session:owner:${clientId}`);
  const subscriptionsKey = (clientId: string) => `${keyPrefix}session:subs:${clientId}`;

  before(async () => {
    admin = new Redis(url);
    if (admin.status !== 'ready') await once(admin, 'ready');
  });

  after(async () => {
    await deleteKeysWithPrefix(admin, keyPrefix);
    for (const connection of connections) connection.disconnect();
    admin.disconnect();
  });

  it('claims many CleanSession 1 connections together, each owning its client id', async () => {
    const a = await proxy('proxy-a');
    const claims = Array.from({ length: 50 }, (_, i) => a.claim(`clean-${i}`, `conn-${i}`, false));
    const restored = await Promise.all(claims);
    for (const session of restored)
      assert.deepEqual(session, { subscriptions: new Map(), owed: [], unreadable: 0 });
    assert.equal(await owner('clean-0'), 'conn-0');
    assert.equal(await owner('clean-49'), 'conn-49');
  });

  it('a clean claim of a client id another proxy holds tells that proxy to let go (MQTT-3.1.4-2)', async () => {
    const a = await proxy('proxy-a2');
    const b = await proxy('proxy-b2');
    await a.claim('moved', 'conn-a', false);
    await b.claim('moved', 'conn-b', false);
    const deadline = Date.now() + 5000;
    while (!takeovers.some((t) => t.takeover.clientId === 'moved') && Date.now() < deadline)
      await new Promise((resolve) => setImmediate(resolve));
    const announced = takeovers.find((t) => t.takeover.clientId === 'moved');
    assert.deepEqual(announced?.takeover, { clientId: 'moved', proxyId: 'proxy-b2', connectionId: 'conn-b' });
    assert.equal(await owner('moved'), 'conn-b');
  });

  it('a persistent claim right after a pending clean one of the same client id is not overtaken by it', async () => {
    const a = await proxy('proxy-a3');
    await admin.hset(subscriptionsKey('flapping'), 'devices/flapping/in', '1');
    const clean = a.claim('flapping', 'conn-clean', false);
    const persistent = a.claim('flapping', 'conn-persistent', true);
    await Promise.all([clean, persistent]);
    assert.equal(await owner('flapping'), 'conn-persistent', 'the later claim owns the client id');
    assert.equal(
      (await persistent)?.subscriptions.size,
      0,
      'the clean claim went first and discarded the stored session (MQTT-3.1.2-6)',
    );
    await a.saveSubscriptions('flapping', new Map([['devices/flapping/cmd', 1]]));
    assert.deepEqual(await admin.hgetall(subscriptionsKey('flapping')), { 'devices/flapping/cmd': '1' });
  });

  it('a release right after a pending clean claim is sent after it, so the client id is given back', async () => {
    const a = await proxy('proxy-a4');
    const claimed = a.claim('brief', 'conn-brief', false);
    a.release('brief', 'conn-brief');
    await a.flushReleases();
    await claimed;
    assert.equal(await owner('brief'), null);
  });
});
