import { Redis } from 'ioredis';

/**
 * A Redis client suited to the background reconciliation: commands fail at once while disconnected
 * (a queued reconcile would report stale counts late) and time out after `commandTimeoutMs`, while
 * the connection keeps retrying forever with a capped backoff so the fleet share recovers on its own.
 */
export function createRateLimitRedis(url: string, options: { commandTimeoutMs?: number } = {}): Redis {
  const redis = new Redis(url, {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
    commandTimeout: options.commandTimeoutMs ?? 500,
    retryStrategy: (attempt) => Math.min(50 * attempt, 1_000),
  });
  // Failures surface through the reconcile result (and its gauge and log); without a listener
  // ioredis would print every reconnect error.
  redis.on('error', () => undefined);
  return redis;
}
