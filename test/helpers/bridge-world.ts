import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import mqtt, { type MqttClient } from 'mqtt';
import { type RunningBridge, startBridge } from '../../bridge/main.js';
import { loadBridgeConfig } from '../../bridge/settings.js';
import { readPartitionsToEnd } from '../../lib/kafka/rdkafka.js';
import {
  createTopics,
  type TopicNames,
  type TopicRole,
  topicList,
  topicNames,
} from '../../lib/kafka/topics.js';
import {
  kafkaBootstrap,
  originCredentials,
  projectRoot,
  registryUrl,
  type StackConfig,
} from '../../lib/local-platform.js';
import { createLogger } from '../../lib/log.js';
import { SchemaCatalog, type TopicValues } from '../../schemas/catalog.js';
import type { ApprovedMessage } from '../../schemas/types.generated.js';
import { ensurePlatform, testKafka, uniqueName } from './platform.js';

/** Records of one topic as they arrive, decoded; waiters wake on every batch. */
export class TopicFollower<R extends TopicRole> {
  readonly records: Array<{ key: string; value: TopicValues[R] }> = [];
  readonly groupId = uniqueName('follow');
  #waiters: Array<() => void> = [];
  #consumer: Consumer | null = null;

  constructor(
    private readonly kafka: Kafka,
    private readonly catalog: SchemaCatalog,
    private readonly topic: string,
    private readonly role: R,
  ) {}

  async start(): Promise<void> {
    const consumer = this.kafka.consumer({ groupId: this.groupId, maxWaitTimeInMs: 50 });
    this.#consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (!message.value) return;
        const value = await this.catalog.decode(this.role, message.value);
        this.records.push({ key: message.key?.toString() ?? '', value });
        for (const wake of this.#waiters.splice(0)) wake();
      },
    });
  }

  /** Waits until `predicate` holds over what has arrived (the test's own timeout bounds it). */
  async until(predicate: (records: this['records']) => boolean): Promise<void> {
    while (!predicate(this.records)) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  async stop(): Promise<void> {
    await this.#consumer?.disconnect().catch(() => undefined);
  }
}

export interface OriginMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly retain: boolean;
  readonly qos: number;
}

/** An origin-side application subscribed with MQTT.js; collects what arrives. */
export class OriginSubscriber {
  readonly messages: OriginMessage[] = [];
  #waiters: Array<() => void> = [];

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload, retain: packet.retain, qos: packet.qos });
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  static async connect(
    url: string,
    account: { username: string; password: string },
    filters: readonly string[],
    options: mqtt.IClientOptions = {},
  ): Promise<OriginSubscriber> {
    const client = await mqtt.connectAsync(url, {
      clientId: uniqueName('origin-app'),
      username: account.username,
      password: account.password,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...options,
    });
    const subscriber = new OriginSubscriber(client);
    try {
      if (filters.length > 0) await client.subscribeAsync([...filters], { qos: 1 });
    } catch (err) {
      // A refused subscription must not leave a connected client keeping the test process alive.
      await subscriber.close();
      throw err;
    }
    return subscriber;
  }

  async until(predicate: (messages: readonly OriginMessage[]) => boolean): Promise<void> {
    while (!predicate(this.messages)) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.client.endAsync(true).catch(() => undefined);
  }
}

/** `sentinel bridge` running as a child process (the built CLI), as in production. */
export interface BridgeProcess {
  readonly child: ChildProcess;
  /** Resolves with the exit code and signal. */
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  /** The tail of its standard error (its log), for assertion messages. */
  output(): string;
}

/** An approved record as stored: where it sits in sentinel.approved. */
export interface StoredApproved {
  readonly partition: number;
  readonly offset: number;
  readonly value: ApprovedMessage;
}

/** A bridge's settings for a test world on the local platform's origin; `extra` overrides them. */
export function bridgeTestEnv(
  platform: StackConfig,
  topicPrefix: string,
  groupId: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    SENTINEL_KAFKA_BROKERS: kafkaBootstrap(platform).join(','),
    SENTINEL_REGISTRY_URL: registryUrl(platform),
    SENTINEL_TOPIC_PREFIX: topicPrefix,
    SENTINEL_STATE_DIR: platform.stateDir,
    SENTINEL_ORIGIN_WS_PORT: String(platform.originWsPort),
    SENTINEL_ORIGIN_MQTT_PORT: String(platform.originMqttPort),
    SENTINEL_BRIDGE_METRICS_PORT: '0',
    SENTINEL_BRIDGE_GROUP_ID: groupId,
    SENTINEL_BRIDGE_INSTANCE_ID: uniqueName('bridge'),
    SENTINEL_BRIDGE_SESSION_TIMEOUT_MS: '6000',
    SENTINEL_BRIDGE_RECONNECT_MAX_MS: '1000',
    ...extra,
  };
}

/**
 * A world of its own for bridge tests on the real platform: unique topic prefix (all five topics),
 * consumer group and instance ids, so tests never see each other's messages or offsets.
 */
export class BridgeTestWorld {
  readonly id = uniqueName('bridge').replaceAll('-', '_');
  readonly topicPrefix = `${this.id}.`;
  readonly topics: TopicNames = topicNames(this.topicPrefix);
  readonly groupId = `${this.id}-group`;
  readonly #bridges: RunningBridge[] = [];
  readonly #children: BridgeProcess[] = [];
  readonly #groups: string[] = [this.groupId];
  readonly #cleanups: Array<() => Promise<unknown>> = [];
  /** Packet offsets handed out by `approved`, rising in creation order. */
  #nextPacketOffset = 0;
  #platform: StackConfig | undefined;
  #catalog: SchemaCatalog | undefined;
  #kafka: Kafka | undefined;
  #producer: Producer | undefined;

  constructor(readonly partitions = 4) {}

  get platform(): StackConfig {
    if (!this.#platform) throw new Error('BridgeTestWorld.setUp() first');
    return this.#platform;
  }

  get catalog(): SchemaCatalog {
    return this.#catalog as SchemaCatalog;
  }

  get kafka(): Kafka {
    return this.#kafka as Kafka;
  }

  get originMqttUrl(): string {
    return `mqtt://127.0.0.1:${this.platform.originMqttPort}`;
  }

  get originApp() {
    return originCredentials(this.platform).app;
  }

  async setUp(): Promise<void> {
    this.#platform = await ensurePlatform();
    this.#kafka = testKafka(this.platform);
    const admin = this.kafka.admin();
    await admin.connect();
    await createTopics(admin, topicList(this.topics), this.partitions);
    await admin.disconnect();
    this.#catalog = await SchemaCatalog.connect(registryUrl(this.platform), this.topics);
    this.#producer = this.kafka.producer({ allowAutoTopicCreation: false });
    await this.#producer.connect();
  }

  /** The settings every bridge of this world runs with; `extra` overrides them. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return bridgeTestEnv(this.platform, this.topicPrefix, this.groupId, extra);
  }

  /** Starts a bridge and waits until every origin connection is up (and subscribed). */
  async startBridge(extra: Record<string, string> = {}): Promise<RunningBridge> {
    const bridge = await startBridge(
      loadBridgeConfig({ env: this.env(extra) }),
      createLogger({ name: 'bridge-test', level: 'warn', destination: 2 }),
    );
    this.#bridges.push(bridge);
    await Promise.all(bridge.links.map((link) => link.whenReady()));
    return bridge;
  }

  /** Starts `sentinel bridge` as a child process with this world's settings (`extra` overrides them). */
  spawnBridge(extra: Record<string, string> = {}): BridgeProcess {
    const child = spawn(process.execPath, [join(projectRoot, 'dist', 'cli', 'main.js'), 'bridge'], {
      env: { ...process.env, ...this.env({ SENTINEL_LOG_LEVEL: 'warn', ...extra }) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const running: BridgeProcess = { child, exited, output: () => stderr };
    this.#children.push(running);
    return running;
  }

  async stopBridge(bridge: RunningBridge): Promise<void> {
    const index = this.#bridges.indexOf(bridge);
    if (index >= 0) this.#bridges.splice(index, 1);
    await bridge.stop();
  }

  /**
   * An approved message as the processors write it. Its `packetRef` is the next packet position
   * (packets partition 0, rising offsets): messages produced in the order they were made are new
   * packets; producing one again is a replay (same `eventId` and `packetRef`), which the bridge skips.
   */
  approved(
    clientId: string,
    topic: string,
    payload: string,
    overrides: Partial<ApprovedMessage> = {},
  ): ApprovedMessage {
    const now = Date.now();
    return {
      eventId: randomUUID(),
      clientId,
      topic,
      payload: Buffer.from(payload),
      qos: 1,
      retain: false,
      sourceIp: '127.0.0.1',
      proxyId: 'test-proxy',
      receivedAt: now,
      approvedAt: now,
      packetRef: { topic: this.topics.packets, partition: 0, offset: this.#nextPacketOffset++ },
      ...overrides,
    };
  }

  async produceApproved(messages: readonly ApprovedMessage[]): Promise<void> {
    await this.#producer?.send({
      topic: this.topics.approved,
      acks: -1,
      messages: messages.map((m) => ({ key: m.clientId, value: this.catalog.encode('approved', m) })),
    });
  }

  /** Every approved record stored now, with its partition and offset. */
  async readApproved(): Promise<StoredApproved[]> {
    const raw: Array<{ partition: number; offset: number; value: Buffer }> = [];
    await readPartitionsToEnd({
      connection: { brokers: kafkaBootstrap(this.platform), clientId: uniqueName('read-approved') },
      topic: this.topics.approved,
      partitions: Array.from({ length: this.partitions }, (_, p) => p),
      timeoutMs: 30_000,
      onRecord: (r) => {
        if (r.value) raw.push({ partition: r.partition, offset: r.offset, value: r.value });
      },
    });
    return Promise.all(
      raw.map(async (r) => ({ ...r, value: await this.catalog.decode('approved', r.value) })),
    );
  }

  /** The bridge group's committed offsets of sentinel.approved (with their metadata), by partition. */
  async committed(): Promise<Map<number, { offset: number; metadata: string | null }>> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const [topic] = await admin.fetchOffsets({ groupId: this.groupId, topics: [this.topics.approved] });
      const offsets = new Map<number, { offset: number; metadata: string | null }>();
      for (const p of topic?.partitions ?? []) {
        if (p.offset !== '-1') offsets.set(p.partition, { offset: Number(p.offset), metadata: p.metadata });
      }
      return offsets;
    } finally {
      await admin.disconnect();
    }
  }

  async follow<R extends TopicRole>(role: R): Promise<TopicFollower<R>> {
    const follower = new TopicFollower(this.kafka, this.catalog, this.topics[role], role);
    this.#groups.push(follower.groupId);
    this.#cleanups.push(() => follower.stop());
    await follower.start();
    return follower;
  }

  async subscribeAtOrigin(
    filters: readonly string[],
    url = this.originMqttUrl,
    account = this.originApp,
    options: mqtt.IClientOptions = {},
  ): Promise<OriginSubscriber> {
    const subscriber = await OriginSubscriber.connect(url, account, filters, options);
    this.#cleanups.push(() => subscriber.close());
    return subscriber;
  }

  /** Runs at tear-down, before the topics are deleted. */
  onTearDown(cleanup: () => Promise<unknown>): void {
    this.#cleanups.push(cleanup);
  }

  async tearDown(): Promise<void> {
    for (const bridge of this.#bridges.splice(0)) await bridge.stop().catch(() => undefined);
    for (const { child, exited } of this.#children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
    for (const cleanup of this.#cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    await this.#producer?.disconnect().catch(() => undefined);
    if (this.#kafka) {
      const admin = this.kafka.admin();
      await admin.connect();
      await admin.deleteGroups(this.#groups.splice(0)).catch(() => undefined);
      await admin.deleteTopics({ topics: topicList(this.topics) }).catch(() => undefined);
      await admin.disconnect();
    }
  }
}
