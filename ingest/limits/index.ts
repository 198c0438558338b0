export { BucketTable, type LaneRate } from './bucket-table.js';
export { FleetShare, type FleetStatus, waterFill } from './fleet-share.js';
export { GlobalBucket } from './global-bucket.js';
export {
  type FleetOptions,
  RateLimiter,
  type RateLimiterOptions,
  type RateLimiterStatus,
} from './limiter.js';
export { RateLimitCounts, registerRateLimitMetrics } from './metrics.js';
export { createRateLimitRedis } from './redis.js';
export { type RateLimitConfig, rateLimitPolicyFrom, rateLimitSchema } from './settings.js';
export {
  defaultRateLimitPolicy,
  isExemptPacketType,
  type QosPublishRejection,
  type Rate,
  type RateCheck,
  type RateDecision,
  type RateLimitAction,
  type RateLimitPolicy,
  type RateLimitTier,
  rateLimitActions,
  rateLimitTiers,
  rejectionOf,
  type TierPolicy,
  type TierResponse,
  tierResponses,
} from './tiers.js';
