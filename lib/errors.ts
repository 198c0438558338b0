/**
 * Errors are values with a stable code an operator (or a test) can match on, a reason that says
 * what to do, and the underlying cause. Codes never change meaning once released.
 */
export type SentinelErrorCode =
  | 'SNT_CONFIG_INVALID'
  | 'SNT_CONFIG_UNKNOWN'
  | 'SNT_DEPENDENCY_MISSING'
  | 'SNT_COMPONENT_UNHEALTHY'
  | 'SNT_COMPONENT_START_FAILED'
  | 'SNT_STACK_LOCKED'
  | 'SNT_KAFKA_UNAVAILABLE'
  | 'SNT_KAFKA_NOT_ENOUGH_REPLICAS'
  | 'SNT_TOPIC_MISCONFIGURED'
  | 'SNT_SCHEMA_INCOMPATIBLE'
  | 'SNT_SCHEMA_UNKNOWN'
  | 'SNT_DEVICE_DB_UNAVAILABLE'
  | 'SNT_CACHE_UNAVAILABLE'
  | 'SNT_DEVICE_EXISTS'
  | 'SNT_DEVICE_UNKNOWN'
  | 'SNT_DEVICE_INVALID'
  | 'SNT_AUTH_HASH_INVALID'
  | 'SNT_FORENSICS_QUERY_INVALID'
  | 'SNT_PROTOCOL_VIOLATION'
  | 'SNT_RATELIMIT_REDIS_UNAVAILABLE'
  | 'SNT_STATE_RESTORE_FAILED'
  | 'SNT_ORIGIN_REFUSED'
  | 'SNT_ORIGIN_UNAVAILABLE'
  | 'SNT_RUNTIME_UNSUPPORTED'
  | 'SNT_INPUT_INVALID'
  | 'SNT_USAGE';

export class SentinelError extends Error {
  readonly code: SentinelErrorCode;

  constructor(code: SentinelErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SentinelError';
    this.code = code;
  }
}

export function isSentinelError(err: unknown, code?: SentinelErrorCode): err is SentinelError {
  return err instanceof SentinelError && (code === undefined || err.code === code);
}

/** Message of an unknown thrown value, for logs and CLI output. */
export function describeError(err: unknown): string {
  if (err instanceof SentinelError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
