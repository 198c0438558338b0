import type { Kafka, Producer } from 'kafkajs';

/**
 * Retries of the transactional producers. kafkajs has one backoff for every retriable error; the
 * first retry is short because the usual one is CONCURRENT_TRANSACTIONS (the previous transaction's
 * markers still being written), which the Java client retries after 20 ms; later ones grow (x2,
 * capped), so a broker failure still backs off. Retries stay unlimited, as kafkajs requires of an
 * idempotent producer.
 */
const transactionalRetry = {
  initialRetryTime: 20,
  multiplier: 2,
  maxRetryTime: 5_000,
  retries: Number.MAX_SAFE_INTEGER,
} as const;

/**
 * A transactional producer whose id is initialised, i.e. whose previous users are fenced.
 *
 * kafkajs sends InitProducerId with the transactional id (the epoch bump that fences the previous
 * holder of the id and settles its open transaction) only on the producer's first `transaction()`,
 * not on `connect()`. Fencing must happen before the new owner reads committed offsets and state, so
 * this begins and aborts an empty transaction: InitProducerId, and no EndTxn (nothing was added).
 */
export async function initTransactionalProducer(
  kafka: Kafka,
  transactionalId: string,
  transactionTimeoutMs: number,
): Promise<Producer> {
  const producer = kafka.producer({
    transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    transactionTimeout: transactionTimeoutMs,
    allowAutoTopicCreation: false,
    retry: transactionalRetry,
  });
  try {
    await producer.connect();
    const empty = await producer.transaction();
    await empty.abort();
    return producer;
  } catch (err) {
    await producer.disconnect().catch(() => undefined);
    throw err;
  }
}

/** Fences whoever holds `transactionalId` (aborting its open transaction) and lets the id go. */
export async function fenceTransactionalId(
  kafka: Kafka,
  transactionalId: string,
  transactionTimeoutMs: number,
): Promise<void> {
  const producer = await initTransactionalProducer(kafka, transactionalId, transactionTimeoutMs);
  await producer.disconnect().catch(() => undefined);
}
