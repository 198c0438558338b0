import { MemoryDecisionCache } from '../../ingest/auth/memory-decision-cache.js';
import { decisionCacheContract } from './decision-cache.contract.js';

decisionCacheContract('MemoryDecisionCache (test double)', async (lifetimes) => {
  const { ttlSeconds, revalidateSeconds } = lifetimes ?? { ttlSeconds: 60, revalidateSeconds: 0 };
  const cache = new MemoryDecisionCache({ ttlSeconds, revalidateSeconds });
  return { cache, feed: cache, ttlSeconds, close: async () => undefined };
});
