import { MemoryDecisionCache } from '../../ingest/auth/memory-decision-cache.js';
import { decisionCacheContract } from './decision-cache.contract.js';

decisionCacheContract('MemoryDecisionCache (test double)', async () => {
  const cache = new MemoryDecisionCache({ ttlSeconds: 60 });
  return { cache, feed: cache, ttlSeconds: 60, close: async () => undefined };
});
