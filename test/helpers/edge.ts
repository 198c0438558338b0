import assert from 'node:assert/strict';
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Redis } from 'ioredis';
import type { Consumer } from 'kafkajs';
import mqttPacket, { type Packet } from 'mqtt-packet';
import type mysql from 'mysql2/promise';
import { createDevicePool, DeviceStore, type NewDevice } from '../../ingest/auth/device-store.js';
import { type RunningIngest, startIngest } from '../../ingest/main.js';
import { loadIngestConfig } from '../../ingest/settings.js';
import { migrateDeviceDb, parseMysqlUrl } from '../../lib/devicedb/migrations.js';
import { readPartitionsToEnd } from '../../lib/kafka/rdkafka.js';
import { createTopics, type TopicNames, topicList, topicNames } from '../../lib/kafka/topics.js';
import { kafkaBootstrap, projectRoot, registryUrl, type StackConfig } from '../../lib/local-platform.js';
import { createLogger } from '../../lib/log.js';
import { SchemaCatalog } from '../../schemas/catalog.js';
import type { PacketEvent } from '../../schemas/types.generated.js';
import { ensurePlatform, testKafka, uniqueName } from './platform.js';
import { metricSum } from './registry.js';

/**
 * A world of its own for edge tests on the real platform: unique topics, device database, Redis key
 * prefixes and proxy ids, so tests never see each other's packets, devices or sessions.
 */
export class EdgeTestWorld {
  readonly id = uniqueName('edge').replaceAll('-', '_');
  /** Partitions of the world's topics (1 puts every client behind one leader, for fault tests). */
  readonly partitions: number;
  readonly topicPrefix = `${this.id}.`;
  readonly topics: TopicNames = topicNames(this.topicPrefix);
  readonly database = `st_${this.id}`;
  readonly redisPrefix = `test:${this.id}:`;
  readonly #edges: RunningIngest[] = [];
  readonly #consumers: Consumer[] = [];
  #pool: mysql.Pool | undefined;
  #devices: DeviceStore | undefined;
  #catalog: SchemaCatalog | undefined;
  #platform: StackConfig | undefined;
  readonly events: PacketEvent[] = [];
  #closing = false;
  readonly #eventWaiters: Array<() => void> = [];

  readonly #followsPackets: boolean;

  /**
   * `followPackets: false` for tests that read the packets topic themselves: the follower is a
   * kafkajs group consumer, and one connected to a broker the test kills keeps a request timer
   * that holds the test process open after tearDown.
   */
  constructor(options: { partitions?: number; followPackets?: boolean } = {}) {
    this.partitions = options.partitions ?? 3;
    this.#followsPackets = options.followPackets ?? true;
  }

  get platform(): StackConfig {
    if (!this.#platform) throw new Error('EdgeTestWorld.setUp() first');
    return this.#platform;
  }

  get mysqlUrl(): string {
    return `mysql://root@127.0.0.1:3306/${this.database}`;
  }

  /** The settings every edge of this world runs with; `extra` overrides them. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      SENTINEL_KAFKA_BROKERS: kafkaBootstrap(this.platform).join(','),
      SENTINEL_REGISTRY_URL: registryUrl(this.platform),
      SENTINEL_TOPIC_PREFIX: this.topicPrefix,
      SENTINEL_MYSQL_URL: this.mysqlUrl,
      SENTINEL_INGEST_PORT: '0',
      SENTINEL_INGEST_TLS_PORT: '0',
      SENTINEL_INGEST_METRICS_PORT: '0',
      SENTINEL_INGEST_PROXY_ID: uniqueName('proxy'),
      SENTINEL_INGEST_SESSION_PREFIX: `${this.redisPrefix}s:`,
      SENTINEL_AUTH_CACHE_PREFIX: `${this.redisPrefix}auth:`,
      SENTINEL_AUTH_CACHE_SECRET: 'edge-test-cache-secret-0123456789abcdef',
      SENTINEL_RATE_REDIS_KEY_PREFIX: `${this.redisPrefix}rl`,
      SENTINEL_INGEST_LINGER_MS: '1',
      ...extra,
    };
  }

  async setUp(): Promise<void> {
    this.#platform = await ensurePlatform();
    const admin = testKafka(this.platform).admin();
    await admin.connect();
    try {
      await createTopics(admin, topicList(this.topics), this.partitions);
    } finally {
      await admin.disconnect();
    }
    await migrateDeviceDb(parseMysqlUrl(this.mysqlUrl));
    this.#pool = createDevicePool(this.mysqlUrl, { timeoutMs: 2000 });
    this.#devices = new DeviceStore(this.#pool);
    this.#catalog = await SchemaCatalog.connect(registryUrl(this.platform), this.topics);
    if (this.#followsPackets) await this.#followPackets();
  }

  async addDevice(device: NewDevice): Promise<void> {
    await this.#devices!.add(device);
  }

  /** Devices whose user name is their client id, all with one password and one ACL. */
  async addDevices(
    clientIds: readonly string[],
    password: string,
    acl: Pick<NewDevice, 'publish' | 'subscribe'> = {
      publish: ['devices/%c/#'],
      subscribe: ['clients/%c/#'],
    },
  ): Promise<void> {
    for (const clientId of clientIds)
      await this.addDevice({ clientId, username: clientId, password, ...acl });
  }

  get catalog(): SchemaCatalog {
    return this.#catalog!;
  }

  async startEdge(extra: Record<string, string> = {}): Promise<RunningIngest> {
    const edge = await startIngest(
      loadIngestConfig({ env: this.env(extra) }),
      createLogger({ name: 'ingest-test', level: 'warn' }),
    );
    this.#edges.push(edge);
    for (let i = 0; i < 200 && !edge.ready(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    return edge;
  }

  /**
   * `sentinel ingest` in a process of its own (a real SIGTERM, a second proxy); resolves once it
   * listens, with its MQTT port. The caller ends it.
   */
  async spawnEdgeProcess(
    extra: Record<string, string> = {},
  ): Promise<{ child: ChildProcessByStdio<null, Readable, Readable>; port: number }> {
    const child = spawn(process.execPath, [join(projectRoot, 'dist', 'cli', 'main.js'), 'ingest'], {
      env: { ...process.env, ...this.env({ SENTINEL_LOG_LEVEL: 'warn', ...extra }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /ingest: mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`the proxy exited with ${code}: ${stdout}`)));
    });
    return { child, port };
  }

  /** Reads the world's packets topic from the start, decoding every event through the registry. */
  async #followPackets(): Promise<void> {
    const consumer = testKafka(this.platform).consumer({
      groupId: uniqueName('packets-reader'),
      maxWaitTimeInMs: 50,
      // kafkajs restarts a crashed consumer (a broker killed under it) in the background, and a
      // restart that comes after tearDown loops for ever on the deleted topic, keeping the test
      // process alive: no restart once the world is closing.
      retry: { restartOnFailure: async () => !this.#closing },
    });
    this.#consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topic: this.topics.packets, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (!message.value) return;
        this.events.push(await this.catalog.decode('packets', message.value));
        for (const wake of this.#eventWaiters.splice(0)) wake();
      },
    });
  }

  /** Waits until an event matching `predicate` has been read from Kafka (the test's own timeout bounds it). */
  async waitForEvent(predicate: (event: PacketEvent) => boolean): Promise<PacketEvent> {
    if (!this.#followsPackets) throw new Error('this EdgeTestWorld does not follow its packets topic');
    for (;;) {
      const found = this.events.find(predicate);
      if (found) return found;
      await new Promise<void>((resolve) => this.#eventWaiters.push(resolve));
    }
  }

  /**
   * The message ids of each client's PUBLISH events as the packets topic holds them, read record by
   * record from the start (a group reader may replay records after its coordinator moves, which
   * says nothing about what Kafka holds).
   */
  async #storedPublishIds(clientIds: readonly string[]): Promise<Map<string, Array<number | null>>> {
    const raw: Buffer[] = [];
    await readPartitionsToEnd({
      connection: { brokers: kafkaBootstrap(this.platform), clientId: uniqueName('read-packets') },
      topic: this.topics.packets,
      partitions: Array.from({ length: this.partitions }, (_, p) => p),
      timeoutMs: 60_000,
      onRecord: (r) => {
        if (r.value) raw.push(r.value);
      },
    });
    const stored = new Map(clientIds.map((id) => [id, [] as Array<number | null>]));
    for (const value of raw) {
      const event = await this.catalog.decode('packets', value);
      if (event.packetType === 'PUBLISH') stored.get(event.clientId)?.push(event.messageId);
    }
    return stored;
  }

  /** Each client's PUBLISH events are in Kafka exactly `messageIds`: each once, in that order. */
  async assertStoredOnceInOrder(clientIds: readonly string[], messageIds: readonly number[]): Promise<void> {
    const stored = await this.#storedPublishIds(clientIds);
    for (const clientId of clientIds)
      assert.deepEqual(
        stored.get(clientId),
        messageIds,
        `${clientId}: each acknowledged message in Kafka once, in order`,
      );
  }

  async tearDown(): Promise<void> {
    this.#closing = true;
    for (const edge of this.#edges) await edge.stop().catch(() => undefined);
    // Bounded: a kafkajs consumer still retrying its group join can take minutes to disconnect.
    for (const consumer of this.#consumers)
      await Promise.race([
        consumer.disconnect().catch(() => undefined),
        new Promise((resolve) => setTimeout(resolve, 10_000).unref()),
      ]);
    if (this.#platform) {
      const admin = testKafka(this.platform).admin();
      await admin.connect();
      await admin.deleteTopics({ topics: topicList(this.topics) }).catch(() => undefined);
      await admin.disconnect();
    }
    if (this.#pool) {
      await this.#pool.query(`DROP DATABASE IF EXISTS \`${this.database}\``);
      await this.#pool.end();
    }
    const redis = new Redis('redis://127.0.0.1:6379');
    // The retained-message hash and channel are named after the topic prefix (lib/mqtt/retained.ts).
    const keys = [
      ...(await redis.keys(`${this.redisPrefix}*`)),
      ...(await redis.keys(`${this.topicPrefix}retained*`)),
    ];
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
}

/** A metric of a running edge, summed over the series whose labels include `labels` (0 when absent). */
export function edgeMetric(
  edge: RunningIngest,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  return metricSum(edge.registry, name, labels);
}

export function listenerPort(edge: RunningIngest, name: 'mqtt' | 'mqtts'): number {
  const listener = edge.listeners.find((l) => l.name === name);
  if (!listener) throw new Error(`edge has no ${name} listener`);
  return listener.port;
}

/**
 * A device speaking MQTT 3.1.1 over a raw socket, so a test decides every byte it sends and when
 * (no automatic PINGREQ or retransmission), and sees every packet the proxy answers.
 */
export class RawDevice {
  readonly socket: Socket;
  readonly received: Packet[] = [];
  /** When each packet of `received` arrived (performance.now(), same index). */
  readonly receivedAt: number[] = [];
  #closed = false;
  readonly #waiters: Array<() => void> = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet: Packet) => {
      this.received.push(packet);
      this.receivedAt.push(performance.now());
      this.#wake();
    });
    socket.on('data', (chunk) => parser.parse(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
  }

  /** Connects and completes CONNECT; fails unless CONNACK 0. */
  static async connect(
    port: number,
    connect: { clientId: string; password: string; keepalive?: number },
  ): Promise<RawDevice> {
    const socket = createConnection({ host: '127.0.0.1', port });
    await once(socket, 'connect');
    return RawDevice.handshake(socket, connect);
  }

  /** A device over a socket already open (through TLS, after a PROXY header...): CONNECT, then CONNACK 0. */
  static async handshake(
    socket: Socket,
    connect: { clientId: string; password: string; keepalive?: number },
  ): Promise<RawDevice> {
    const { device, returnCode } = await RawDevice.answerTo(socket, connect);
    if (returnCode !== 0) throw new Error(`${connect.clientId}: CONNACK ${returnCode}`);
    return device;
  }

  /**
   * Sends a CONNECT (user name = client id) over an open socket: the device, and the CONNACK's
   * return code, or 'closed' when the proxy closed the connection without one.
   */
  static async answerTo(
    socket: Socket,
    connect: { clientId: string; password: string; keepalive?: number },
  ): Promise<{ device: RawDevice; returnCode: number | 'closed' }> {
    const device = RawDevice.over(socket);
    device.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      keepalive: connect.keepalive ?? 60,
      clientId: connect.clientId,
      username: connect.clientId,
      password: Buffer.from(connect.password),
    });
    const connack = await device.waitFor((p) => p.cmd === 'connack').catch(() => undefined);
    return { device, returnCode: connack?.cmd === 'connack' ? (connack.returnCode ?? 0) : 'closed' };
  }

  /** A device over an open socket that has sent nothing yet: the test writes every byte. */
  static over(socket: Socket): RawDevice {
    return new RawDevice(socket);
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(...packets: Packet[]): void {
    this.socket.write(Buffer.concat(packets.map((packet) => mqttPacket.generate(packet))));
  }

  /** The PUBACKs received so far, by packet identifier. */
  pubacks(): number[] {
    return this.received.flatMap((p) => (p.cmd === 'puback' ? [p.messageId ?? 0] : []));
  }

  /** Resolves with the first packet received (or already received) that matches; rejects if the socket closes first. */
  waitFor(predicate: (packet: Packet) => boolean): Promise<Packet> {
    return this.until(() => this.received.find(predicate));
  }

  /** Resolves once `check` returns a value, re-checked on every packet; rejects if the socket closes first. */
  until<T>(check: () => T | undefined | false): Promise<T> {
    return new Promise((resolve, reject) => {
      const test = () => {
        const value = check();
        if (value !== undefined && value !== false) resolve(value);
        else if (this.#closed) reject(new Error('the proxy closed the connection'));
        else this.#waiters.push(test);
      };
      test();
    });
  }

  /** PINGREQ answered by PINGRESP: the marker that the proxy still serves this connection. */
  async ping(): Promise<void> {
    const before = this.received.filter((p) => p.cmd === 'pingresp').length;
    this.send({ cmd: 'pingreq' });
    await this.until(() => this.received.filter((p) => p.cmd === 'pingresp').length > before);
  }

  /** Resolves when the proxy closed the connection. */
  whenClosed(): Promise<void> {
    return new Promise((resolve) => {
      const test = () => (this.#closed ? resolve() : this.#waiters.push(test));
      test();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
