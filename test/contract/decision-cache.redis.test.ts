import { once } from 'node:events';
import {
  createCacheRedis,
  createInvalidationSubscriber,
  RedisDecisionCache,
  RedisInvalidationFeed,
} from '../../ingest/auth/decision-cache.js';
import { uniqueName } from '../helpers/platform.js';
import { deleteKeysWithPrefix } from '../helpers/redis-keys.js';
import { decisionCacheContract } from './decision-cache.contract.js';

/** The machine's Redis, under a key prefix (and so a channel) of this run's own, deleted afterwards. */
decisionCacheContract('RedisDecisionCache on Redis', async (lifetimes) => {
  const url = 'redis://127.0.0.1:6379';
  const prefix = `${uniqueName('contract-auth')}:`;
  const redis = createCacheRedis(url, { commandTimeoutMs: 2000 });
  if (redis.status !== 'ready') await once(redis, 'ready');
  const subscriber = createInvalidationSubscriber(url);
  const feed = new RedisInvalidationFeed(subscriber, prefix);
  await feed.start();
  const { ttlSeconds, revalidateSeconds } = lifetimes ?? { ttlSeconds: 60, revalidateSeconds: 0 };
  const secret = 'contract-secret-'.repeat(2);
  return {
    cache: new RedisDecisionCache(redis, { prefix, ttlSeconds, revalidateSeconds, secret }),
    feed,
    ttlSeconds,
    async close() {
      await deleteKeysWithPrefix(redis, prefix);
      subscriber.disconnect();
      redis.disconnect();
    },
  };
});
