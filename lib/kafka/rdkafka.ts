import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import rdkafka, {
  type ConsumerGlobalConfig,
  type KafkaConsumer as KafkaConsumerType,
  type LibrdKafkaError,
  type Message,
  type MessageHeader,
  type ProducerGlobalConfig,
  type Producer as ProducerType,
  type TopicPartition,
  type TopicPartitionOffsetAndMetadata,
} from '@confluentinc/kafka-javascript';
import type { Logger } from '../log.js';
import type { KafkaConnection } from './client.js';
import { defaultLingerMs } from './defaults.js';

/**
 * The hot-path Kafka clients, on librdkafka (@confluentinc/kafka-javascript's native API). kafkajs
 * stays for administration (topics, groups), where it is simpler and nothing waits on it.
 *
 * Why librdkafka here (measured in docs/performance.md): one produce request carries every record
 * that arrived within `linger.ms` whoever sent it (kafkajs sends one request per `send()`), the
 * consumer hands over whatever is fetched as soon as the first record is there, and transactions
 * send their offsets with the consumer group metadata (KIP-447), so a member that lost a partition
 * in a rebalance cannot commit for it.
 */
const { Producer, KafkaConsumer } = rdkafka;

export type { Message as KafkaRecord } from '@confluentinc/kafka-javascript';

const ERR_QUEUE_FULL = -184;
const ERR_PARTITION_EOF = -191;

/** librdkafka settings for a connection: addresses, client id, TLS and SASL (lib/kafka/security.ts). */
export function rdkafkaConnectionConfig(
  connection: KafkaConnection,
): Record<string, string | number | boolean> {
  const security = connection.security ?? {};
  const config: Record<string, string | number | boolean> = {
    'bootstrap.servers': connection.brokers.join(','),
    'client.id': connection.clientId,
    'socket.connection.setup.timeout.ms': connection.connectionTimeoutMs ?? 10_000,
    // Idle connections are closed by the brokers after 10 minutes anyway; reconnects are cheap.
    'socket.keepalive.enable': true,
    // Metadata is refreshed when a request fails; the periodic refresh only has to catch new partitions.
    'topic.metadata.refresh.interval.ms': 60_000,
    'log.connection.close': false,
  };
  const tls = security.ssl !== undefined;
  const sasl = security.sasl;
  config['security.protocol'] = tls ? (sasl ? 'sasl_ssl' : 'ssl') : sasl ? 'sasl_plaintext' : 'plaintext';
  if (security.ssl) {
    const { ca, cert, key } = security.ssl;
    if (ca) config['ssl.ca.pem'] = (Array.isArray(ca) ? ca : [ca]).map(String).join('\n');
    if (cert) config['ssl.certificate.pem'] = String(cert);
    if (key) config['ssl.key.pem'] = String(key);
    config['enable.ssl.certificate.verification'] = true;
  }
  if (sasl && 'username' in sasl && 'password' in sasl) {
    config['sasl.mechanisms'] = sasl.mechanism.toUpperCase();
    config['sasl.username'] = sasl.username;
    config['sasl.password'] = sasl.password;
  }
  return config;
}

function asError(err: LibrdKafkaError | Error, what: string): Error {
  return err instanceof Error ? err : new Error(`${what}: ${err.message}`);
}

/** The part of both clients' event API used for logging (their typings do not unify). */
interface ClientEvents {
  on(event: string, listener: (arg: never) => void): unknown;
}

/** Typed by hand: present in the library, missing from its type declarations. */
interface ConsumerExtras {
  setDefaultIsTimeoutOnlyForFirstMessage(value: boolean): void;
  incrementalAssign(assignments: TopicPartition[]): void;
  incrementalUnassign(assignments: TopicPartition[]): void;
}

function logEvents(native: ProducerType | KafkaConsumerType, logger: Logger | undefined, name: string): void {
  const client = native as unknown as ClientEvents;
  client.on('event.error', (err: LibrdKafkaError) => {
    // Transport errors (a broker restarting) are retried by librdkafka; only fatal ones end the client.
    logger?.warn({ kafka: name, code: err.code, err: err.message }, 'kafka client error');
  });
  client.on('event.log', (event: { severity: number; fac: string; message: string }) => {
    if (event.severity <= 4) logger?.warn({ kafka: name, fac: event.fac }, event.message);
  });
}

function connect<T extends ProducerType | KafkaConsumerType>(client: T, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    client.connect({ timeout: timeoutMs }, (err) =>
      err ? reject(asError(err, 'connect')) : resolve(client),
    );
  });
}

export interface RecordProducerOptions {
  readonly connection: KafkaConnection;
  /** How long records wait for more to share a request, in ms (`linger.ms`). */
  readonly lingerMs?: number;
  /** Set for a transactional producer; unique per live instance. */
  readonly transactionalId?: string;
  readonly transactionTimeoutMs?: number;
  /**
   * How long librdkafka keeps retrying a record before failing it (`message.timeout.ms`); 0 = for
   * ever: a record is never given up while the process lives, callers bound what they hold instead.
   */
  readonly deliveryTimeoutMs?: number;
}

export interface RecordToSend {
  readonly topic: string;
  /** null: a tombstone (deletes the key from a compacted topic). */
  readonly value: Buffer | null;
  readonly key?: string | Buffer | null;
  /** Absent = by key (murmur2, like the Java client and kafkajs). */
  readonly partition?: number;
  readonly headers?: MessageHeader[];
}

export interface Delivered {
  readonly partition: number;
  readonly offset: number;
}

interface Pending {
  resolve(delivered: Delivered): void;
  reject(err: Error): void;
}

/**
 * An idempotent producer (acks=all) whose `send` resolves when the record is acknowledged by the
 * in-sync replicas. Records from any number of callers share requests within `linger.ms`.
 */
export class RecordProducer {
  private readonly producer: ProducerType;
  private readonly timeoutMs: number;
  private connected = false;
  private nextOpaque = 1;
  private readonly pending = new Map<number, Pending>();
  private fatal: Error | null = null;
  /** Called once if the producer fails for good (fenced, or a fatal idempotence error). */
  onFatal: (err: Error) => void = () => undefined;

  constructor(options: RecordProducerOptions) {
    const config: ProducerGlobalConfig = {
      ...rdkafkaConnectionConfig(options.connection),
      'enable.idempotence': true,
      'linger.ms': options.lingerMs ?? defaultLingerMs,
      'queue.buffering.max.messages': 2_000_000,
      'queue.buffering.max.kbytes': 1_048_576,
      'compression.codec': 'none',
      dr_cb: true,
      ...(options.transactionalId
        ? {
            'transactional.id': options.transactionalId,
            'transaction.timeout.ms': options.transactionTimeoutMs ?? 10_000,
          }
        : {}),
    };
    this.timeoutMs = Math.max(30_000, (options.transactionTimeoutMs ?? 10_000) * 2);
    this.producer = new Producer(config, {
      'request.required.acks': -1,
      // The Java client's and kafkajs's partitioner: a client id maps to the same partition whoever produces it.
      partitioner: 'murmur2_random',
      'message.timeout.ms': options.deliveryTimeoutMs ?? 0,
    });
    logEvents(this.producer, options.connection.logger, options.connection.clientId);
    this.producer.on('event.error', (err: LibrdKafkaError) => {
      if (err.isFatal) this.fail(asError(err, 'producer'));
    });
    this.producer.on('delivery-report', (err, report) => {
      const opaque = report.opaque as number;
      const waiting = this.pending.get(opaque);
      if (!waiting) return;
      this.pending.delete(opaque);
      if (err) waiting.reject(asError(err, `delivery to ${report.topic}`));
      else waiting.resolve({ partition: report.partition, offset: report.offset });
    });
  }

  async connect(timeoutMs = 30_000): Promise<void> {
    await connect(this.producer, timeoutMs);
    // Delivery reports are polled by librdkafka's own thread and handed to the event loop: no timer.
    this.producer.setPollInBackground(true);
    this.connected = true;
  }

  /** Records sent and not yet acknowledged. */
  get inFlight(): number {
    return this.pending.size;
  }

  send(record: RecordToSend): Promise<Delivered> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (!this.connected) return Promise.reject(new Error('producer not connected'));
    const opaque = this.nextOpaque++;
    return new Promise<Delivered>((resolve, reject) => {
      this.pending.set(opaque, { resolve, reject });
      this.produce(record, opaque);
    });
  }

  private produce(record: RecordToSend, opaque: number): void {
    try {
      this.producer.produce(
        record.topic,
        record.partition ?? null,
        record.value,
        record.key ?? null,
        Date.now(),
        opaque,
        record.headers,
      );
    } catch (err) {
      const code = (err as LibrdKafkaError).code;
      if (code === ERR_QUEUE_FULL && this.pending.has(opaque)) {
        // librdkafka's own buffer (2 M records / 1 GiB) is full: try again once requests drained.
        setTimeout(() => this.produce(record, opaque), 5).unref();
        return;
      }
      const waiting = this.pending.get(opaque);
      this.pending.delete(opaque);
      waiting?.reject(asError(err as Error, `produce to ${record.topic}`));
    }
  }

  async initTransactions(): Promise<void> {
    await this.call((cb) => this.producer.initTransactions(this.timeoutMs, cb), 'initTransactions');
  }

  async beginTransaction(): Promise<void> {
    await this.call((cb) => this.producer.beginTransaction(cb), 'beginTransaction');
  }

  /** The consumer's offsets, committed with the transaction and fenced by its group generation (KIP-447). */
  async sendOffsets(
    offsets: readonly TopicPartitionOffsetAndMetadata[],
    consumer: BatchConsumer,
  ): Promise<void> {
    await this.call(
      (cb) => this.producer.sendOffsetsToTransaction([...offsets], consumer.native, this.timeoutMs, cb),
      'sendOffsetsToTransaction',
    );
  }

  async commitTransaction(): Promise<void> {
    await this.call((cb) => this.producer.commitTransaction(this.timeoutMs, cb), 'commitTransaction');
  }

  async abortTransaction(): Promise<void> {
    await this.call((cb) => this.producer.abortTransaction(this.timeoutMs, cb), 'abortTransaction');
  }

  /** Sends what is queued now and waits for it to be acknowledged. */
  async flush(timeoutMs = 30_000): Promise<void> {
    if (!this.connected) return;
    await this.call((cb) => this.producer.flush(timeoutMs, cb), 'flush');
  }

  /** Flushes (up to `timeoutMs`), then closes; records still unacknowledged are failed. */
  async disconnect(timeoutMs = 30_000): Promise<void> {
    if (!this.connected) return;
    await this.flush(timeoutMs).catch(() => undefined);
    this.connected = false;
    await new Promise<void>((resolve) => this.producer.disconnect(timeoutMs, () => resolve()));
    const closed = new Error('producer closed before the record was acknowledged');
    for (const waiting of this.pending.values()) waiting.reject(closed);
    this.pending.clear();
  }

  private fail(err: Error): void {
    if (this.fatal) return;
    this.fatal = err;
    for (const waiting of this.pending.values()) waiting.reject(err);
    this.pending.clear();
    this.onFatal(err);
  }

  private call(run: (cb: (err: LibrdKafkaError) => void) => void, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        run((err) => (err ? reject(asError(err, what)) : resolve()));
      } catch (err) {
        reject(asError(err as Error, what));
      }
    });
  }
}

/** Whether a failed transaction can be aborted and the producer used again (librdkafka says so on the error). */
export function isAbortableTransactionError(err: unknown): boolean {
  const e = err as { txnRequiresAbort?: boolean; isFatal?: boolean } | null;
  return Boolean(e?.txnRequiresAbort) && !e?.isFatal;
}

export interface BatchConsumerOptions {
  readonly connection: KafkaConnection;
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Where a partition without a committed offset starts. */
  readonly start: 'earliest' | 'latest';
  /** Only records of committed transactions (and non-transactional ones). */
  readonly readCommitted?: boolean;
  /** How long a fetch waits for `fetchMinBytes` on the broker, in ms. */
  readonly fetchWaitMs?: number;
  readonly fetchMinBytes?: number;
  readonly sessionTimeoutMs?: number;
  /** Records handed over at most per batch. */
  readonly maxBatch?: number;
  /** Called with partitions just assigned, before any of their records is handed over. */
  readonly onAssigned?: (partitions: readonly number[], topic: string) => void;
  /** Called with partitions being taken away; after it returns no record of theirs is handed over. */
  readonly onRevoked?: (partitions: readonly number[], topic: string) => void;
  /**
   * Called with the outcome of every `commit`: `err` is null when the group stored `offsets`, so a
   * caller can commit again what failed (a rebalance, a coordinator moving) instead of waiting for
   * its next offset.
   */
  readonly onCommitted?: (
    err: Error | null,
    offsets: readonly (TopicPartition & { readonly offset?: number })[],
  ) => void;
}

export interface CommitOffset {
  readonly topic: string;
  readonly partition: number;
  /** The next offset to read. */
  readonly offset: number;
  readonly metadata?: string;
}

/**
 * A group member that hands over fetched records in batches (records of several partitions, in
 * offset order within each) and commits only when told, with optional metadata per partition.
 * Incremental cooperative rebalancing: a rebalance takes away only the partitions that move.
 */
export class BatchConsumer {
  readonly native: KafkaConsumerType;
  private readonly options: BatchConsumerOptions;
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly owned = new Map<string, Set<number>>();
  private readonly paused = new Set<string>();
  /** Records of a partition revoked while its batch was in flight are dropped from what is handed over. */
  private generation = 0;

  constructor(options: BatchConsumerOptions) {
    this.options = options;
    const config: ConsumerGlobalConfig = {
      ...rdkafkaConnectionConfig(options.connection),
      'group.id': options.groupId,
      'enable.auto.commit': false,
      'enable.auto.offset.store': false,
      'isolation.level': options.readCommitted === false ? 'read_uncommitted' : 'read_committed',
      'fetch.wait.max.ms': options.fetchWaitMs ?? 10,
      'fetch.min.bytes': options.fetchMinBytes ?? 1,
      'partition.assignment.strategy': 'cooperative-sticky',
      'session.timeout.ms': options.sessionTimeoutMs ?? 10_000,
      'heartbeat.interval.ms': Math.max(500, Math.floor((options.sessionTimeoutMs ?? 10_000) / 5)),
      'allow.auto.create.topics': false,
      'enable.partition.eof': false,
      rebalance_cb: (err: LibrdKafkaError, assignment: TopicPartition[]) => this.onRebalance(err, assignment),
      offset_commit_cb: (err: LibrdKafkaError | null | undefined, offsets: TopicPartition[] | undefined) => {
        if (err) options.connection.logger?.warn({ err: err.message }, 'offset commit failed');
        options.onCommitted?.(err ? asError(err, 'offset commit') : null, offsets ?? []);
      },
    };
    this.native = new KafkaConsumer(config, { 'auto.offset.reset': options.start });
    logEvents(this.native, options.connection.logger, options.connection.clientId);
  }

  async connect(timeoutMs = 30_000): Promise<void> {
    await connect(this.native, timeoutMs);
    this.native.subscribe([...this.options.topics]);
  }

  /** Partitions owned now, by topic. */
  assignment(topic: string): number[] {
    return [...(this.owned.get(topic) ?? [])].sort((a, b) => a - b);
  }

  /**
   * Hands batches to `handle` until stopped; the next fetch waits for `handle` to settle (callers that
   * must not wait return at once and keep the work). A thrown error stops the loop and is returned.
   */
  run(handle: (records: Message[]) => Promise<void> | void, idleWaitMs = 1000): Promise<void> {
    if (this.loop) throw new Error('consumer already running');
    this.running = true;
    this.native.setDefaultConsumeTimeout(idleWaitMs);
    // Wait only for the first record, then take whatever else is fetched already.
    (this.native as unknown as ConsumerExtras).setDefaultIsTimeoutOnlyForFirstMessage(true);
    const max = this.options.maxBatch ?? 1000;
    this.loop = (async () => {
      while (this.running) {
        const generation = this.generation;
        const records = await new Promise<Message[]>((resolve, reject) => {
          this.native.consume(max, (err, messages) => {
            if (err && err.code !== ERR_PARTITION_EOF) {
              // Timeouts and transient broker errors: librdkafka retries on its own.
              if (err.isFatal) reject(asError(err, 'consume'));
              else resolve([]);
            } else resolve(messages ?? []);
          });
        });
        if (!this.running) break;
        const live =
          generation === this.generation
            ? records
            : records.filter((r) => this.owned.get(r.topic)?.has(r.partition));
        if (live.length > 0) await handle(live);
      }
    })();
    return this.loop;
  }

  /** Commits asynchronously; a failure is logged (the next commit covers it) and `onCommitted` hears the outcome. */
  commit(offsets: readonly CommitOffset[]): void {
    if (offsets.length === 0) return;
    this.native.commit(offsets.map((o) => ({ ...o, metadata: o.metadata ?? null })));
  }

  /** The group's committed offsets (and metadata) of owned partitions; waits for pending transactional commits. */
  committed(
    partitions: readonly TopicPartition[],
    timeoutMs = 30_000,
  ): Promise<TopicPartitionOffsetAndMetadata[]> {
    return new Promise((resolve, reject) => {
      this.native.committed([...partitions], timeoutMs, (err, result) =>
        err ? reject(asError(err, 'committed')) : resolve(result),
      );
    });
  }

  pause(topic: string, partitions: readonly number[]): void {
    const list = partitions.filter((p) => this.owned.get(topic)?.has(p));
    if (list.length === 0) return;
    this.native.pause(list.map((partition) => ({ topic, partition })));
    for (const p of list) this.paused.add(`${topic}/${p}`);
  }

  resume(topic: string, partitions: readonly number[]): void {
    const list = partitions.filter((p) => this.paused.has(`${topic}/${p}`));
    if (list.length === 0) return;
    for (const p of list) this.paused.delete(`${topic}/${p}`);
    this.native.resume(list.map((partition) => ({ topic, partition })));
  }

  isPaused(topic: string, partition: number): boolean {
    return this.paused.has(`${topic}/${partition}`);
  }

  /** Moves the fetch position of an owned partition. */
  seek(topic: string, partition: number, offset: number): Promise<void> {
    this.generation += 1;
    return new Promise((resolve, reject) => {
      this.native.seek({ topic, partition, offset }, 5000, (err) =>
        err ? reject(asError(err, 'seek')) : resolve(),
      );
    });
  }

  /** Low and high watermarks of a partition, asked of its leader. */
  watermarks(topic: string, partition: number, timeoutMs = 10_000): Promise<{ low: number; high: number }> {
    return queryWatermarks(this.native, topic, partition, timeoutMs);
  }

  /**
   * The high watermark librdkafka learned with its last fetch of a partition, without asking the
   * broker (cheap enough for a lag gauge on every tick); undefined before the first fetch.
   */
  fetchedHighWatermark(topic: string, partition: number): number | undefined {
    try {
      const { highOffset } = this.native.getWatermarkOffsets(topic, partition);
      return highOffset >= 0 ? highOffset : undefined;
    } catch {
      // Not fetched yet, or no longer assigned: librdkafka has nothing cached.
      return undefined;
    }
  }

  /** Stops handing over batches and waits for the one in hand; still a member (a final commit may follow). */
  async stopFetching(): Promise<void> {
    this.running = false;
    await this.loop?.catch(() => undefined);
  }

  /**
   * Stops handing over batches, waits for the one in hand, leaves the group. Leaving is bounded:
   * librdkafka's close can retry a group-coordinator lookup without end after a broker died with a
   * commit in flight (confluentinc/librdkafka#3740), and a service's shutdown must not wait on it.
   */
  async disconnect(timeoutMs = 15_000): Promise<void> {
    await this.stopFetching();
    if (!this.native.isConnected()) return;
    const left = await Promise.race([
      new Promise<boolean>((resolve) => this.native.disconnect(() => resolve(true))),
      delay(timeoutMs, false, { ref: false }),
    ]);
    if (!left) {
      this.options.connection.logger?.warn(
        { timeoutMs },
        'the Kafka consumer did not leave its group in time; going on without it',
      );
    }
  }

  private onRebalance(err: LibrdKafkaError, assignment: TopicPartition[]): void {
    const log = this.options.connection.logger;
    const byTopic = new Map<string, number[]>();
    for (const tp of assignment) byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp.partition]);
    try {
      if (err.code === rdkafka.CODES.ERRORS.ERR__ASSIGN_PARTITIONS) {
        for (const [topic, partitions] of byTopic) {
          const set = this.owned.get(topic) ?? new Set<number>();
          for (const p of partitions) set.add(p);
          this.owned.set(topic, set);
          this.options.onAssigned?.(partitions, topic);
        }
        (this.native as unknown as ConsumerExtras).incrementalAssign(assignment);
      } else if (err.code === rdkafka.CODES.ERRORS.ERR__REVOKE_PARTITIONS) {
        this.generation += 1;
        for (const [topic, partitions] of byTopic) {
          for (const p of partitions) {
            this.owned.get(topic)?.delete(p);
            this.paused.delete(`${topic}/${p}`);
          }
          this.options.onRevoked?.(partitions, topic);
        }
        (this.native as unknown as ConsumerExtras).incrementalUnassign(assignment);
      } else {
        log?.warn({ err: err.message }, 'rebalance error');
      }
    } catch (e) {
      log?.error({ err: e }, 'rebalance handling failed');
    }
  }
}

function queryWatermarks(
  client: KafkaConsumerType | ProducerType,
  topic: string,
  partition: number,
  timeoutMs: number,
): Promise<{ low: number; high: number }> {
  return new Promise((resolve, reject) => {
    client.queryWatermarkOffsets(topic, partition, timeoutMs, (err, offsets) =>
      err
        ? reject(asError(err, 'queryWatermarkOffsets'))
        : resolve({ low: offsets.lowOffset, high: offsets.highOffset }),
    );
  });
}

export interface ReadToEndOptions {
  readonly connection: KafkaConnection;
  readonly topic: string;
  readonly partitions: readonly number[];
  /** Called in partition order; a returned promise is awaited before the next record. */
  readonly onRecord: (record: Message) => unknown;
  /** Longest wait for each step (connect, watermarks) and for the next record while reading. */
  readonly timeoutMs: number;
  /** Start at the first record at or after this time (epoch ms) instead of the beginning. */
  readonly fromTimestampMs?: number;
}

/**
 * Reads the committed records (read_committed) of some partitions from their beginning to the end
 * they have now, without joining a group: nothing is committed and no group is left behind.
 * Returns the number of records read.
 */
export async function readPartitionsToEnd(options: ReadToEndOptions): Promise<number> {
  const consumer = new KafkaConsumer(
    {
      ...rdkafkaConnectionConfig(options.connection),
      // Required by librdkafka for a consumer; never joined or committed with assign().
      'group.id': `sentinel-read-${randomBytes(6).toString('hex')}`,
      'enable.auto.commit': false,
      'isolation.level': 'read_committed',
      'enable.partition.eof': true,
      'fetch.wait.max.ms': 100,
    },
    { 'auto.offset.reset': 'earliest' },
  );
  logEvents(consumer, options.connection.logger, `${options.connection.clientId}-read`);
  await connect(consumer, options.timeoutMs);
  try {
    const remaining = new Set<number>();
    for (const p of options.partitions) {
      const { low, high } = await queryWatermarks(consumer, options.topic, p, options.timeoutMs);
      if (high > low) remaining.add(p);
    }
    if (remaining.size === 0) return 0;
    let starts = [...remaining].map((partition) => ({ topic: options.topic, partition, offset: -2 }));
    if (options.fromTimestampMs !== undefined) {
      const wanted = starts.map((start) => ({ ...start, offset: options.fromTimestampMs! }));
      const found = await new Promise<Array<{ partition: number; offset: number }>>((resolve, reject) =>
        consumer.offsetsForTimes(wanted, options.timeoutMs, (err, offsets) =>
          err ? reject(asError(err, 'offsetsForTimes')) : resolve(offsets),
        ),
      );
      // -1: nothing at or after that time in the partition.
      for (const { partition, offset } of found) if (offset < 0) remaining.delete(partition);
      starts = found
        .filter(({ offset }) => offset >= 0)
        .map(({ partition, offset }) => ({ topic: options.topic, partition, offset }));
      if (starts.length === 0) return 0;
    }
    consumer.assign(starts);
    consumer.setDefaultConsumeTimeout(100);
    let read = 0;
    // A deadline for progress, not for the whole read: a long read (a replay of days) goes on as
    // long as records arrive; a read that stops moving fails.
    let deadline = Date.now() + options.timeoutMs;
    consumer.on('partition.eof', (eof) => remaining.delete(eof.partition));
    while (remaining.size > 0) {
      if (Date.now() > deadline) {
        throw new Error(
          `${options.topic}: partitions ${[...remaining].join(', ')} not read to their end: nothing new for ` +
            `${options.timeoutMs} ms (an open transaction holds the last stable offset back, or the cluster is unavailable)`,
        );
      }
      const records = await new Promise<Message[]>((resolve, reject) =>
        consumer.consume(10_000, (err, messages) =>
          err && err.code !== ERR_PARTITION_EOF && err.isFatal
            ? reject(asError(err, 'consume'))
            : resolve(messages ?? []),
        ),
      );
      if (records.length > 0) deadline = Date.now() + options.timeoutMs;
      for (const record of records) {
        const handled = options.onRecord(record);
        if (handled instanceof Promise) await handled;
        read += 1;
      }
    }
    return read;
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
}
