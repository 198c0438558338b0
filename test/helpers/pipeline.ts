import type { Consumer } from 'kafkajs';
import { type RunningBridge, startBridge } from '../../bridge/main.js';
import { loadBridgeConfig } from '../../bridge/settings.js';
import type { RunningIngest } from '../../ingest/main.js';
import { loadConfig } from '../../lib/config.js';
import { originCredentials } from '../../lib/local-platform.js';
import { createLogger } from '../../lib/log.js';
import { type ProcessorsService, startProcessors } from '../../processors/main.js';
import { processorsSchema } from '../../processors/settings.js';
import type { Verdict } from '../../schemas/types.generated.js';
import { bridgeTestEnv, OriginSubscriber } from './bridge-world.js';
import { EdgeTestWorld } from './edge.js';
import { testKafka, uniqueName } from './platform.js';

/**
 * The whole uplink in one test world: edge -> sentinel.packets -> processors -> sentinel.approved ->
 * bridge -> the local platform's origin, on topics, databases and groups of its own. Devices talk to
 * the edge's MQTT listener (`listenerPort(world.edge, 'mqtt')`); origin applications subscribe with `subscribeAtOrigin`; verdicts are read as they come.
 */
export class PipelineTestWorld {
  readonly edgeWorld = new EdgeTestWorld();
  readonly verdicts: Verdict[] = [];
  readonly #verdictWaiters: Array<() => void> = [];
  readonly #processors: ProcessorsService[] = [];
  readonly #bridges: RunningBridge[] = [];
  readonly #subscribers: OriginSubscriber[] = [];
  #verdictReader: Consumer | undefined;
  #edge: RunningIngest | undefined;

  /** Starts the edge (with `edgeEnv`), one processors instance (with `processorsEnv`) and one bridge (with `bridgeEnv`). */
  async setUp(
    edgeEnv: Record<string, string> = {},
    bridgeEnv: Record<string, string> = {},
    processorsEnv: Record<string, string> = {},
  ): Promise<void> {
    await this.edgeWorld.setUp();
    this.#edge = await this.edgeWorld.startEdge(edgeEnv);
    await this.startProcessors(processorsEnv);
    await this.startBridge(bridgeEnv);
    await this.#followVerdicts();
  }

  /** The bridges started so far, the first one setUp's. */
  get bridges(): readonly RunningBridge[] {
    return this.#bridges;
  }

  get edge(): RunningIngest {
    if (!this.#edge) throw new Error('PipelineTestWorld.setUp() first');
    return this.#edge;
  }

  async startProcessors(extra: Record<string, string> = {}): Promise<ProcessorsService> {
    const env = this.edgeWorld.env();
    const config = loadConfig(processorsSchema, {
      env: {
        SENTINEL_KAFKA_BROKERS: env.SENTINEL_KAFKA_BROKERS,
        SENTINEL_REGISTRY_URL: env.SENTINEL_REGISTRY_URL,
        SENTINEL_TOPIC_PREFIX: this.edgeWorld.topicPrefix,
        SENTINEL_PROCESSORS_GROUP_ID: `${this.edgeWorld.id}-processors`,
        SENTINEL_PROCESSORS_METRICS_PORT: '0',
        ...extra,
      },
    });
    const service = await startProcessors(config, {
      log: createLogger({ name: 'processors-test', level: 'warn', destination: 2 }),
    });
    this.#processors.push(service);
    return service;
  }

  async startBridge(extra: Record<string, string> = {}): Promise<RunningBridge> {
    const env = bridgeTestEnv(
      this.edgeWorld.platform,
      this.edgeWorld.topicPrefix,
      `${this.edgeWorld.id}-bridge`,
      {
        SENTINEL_BRIDGE_DOWNLINK_FILTERS: 'none',
        ...extra,
      },
    );
    const bridge = await startBridge(
      loadBridgeConfig({ env }),
      createLogger({ name: 'bridge-test', level: 'warn', destination: 2 }),
    );
    this.#bridges.push(bridge);
    await Promise.all(bridge.links.map((link) => link.whenReady()));
    return bridge;
  }

  /** An application at the origin, subscribed to `filters` (QoS 1). */
  async subscribeAtOrigin(filters: readonly string[]): Promise<OriginSubscriber> {
    const subscriber = await OriginSubscriber.connect(
      `mqtt://127.0.0.1:${this.edgeWorld.platform.originMqttPort}`,
      originCredentials(this.edgeWorld.platform).app,
      filters,
    );
    this.#subscribers.push(subscriber);
    return subscriber;
  }

  async waitForVerdict(predicate: (verdict: Verdict) => boolean): Promise<Verdict> {
    for (;;) {
      const found = this.verdicts.find(predicate);
      if (found) return found;
      await new Promise<void>((resolve) => this.#verdictWaiters.push(resolve));
    }
  }

  async #followVerdicts(): Promise<void> {
    const reader = testKafka(this.edgeWorld.platform).consumer({
      groupId: uniqueName('verdicts-reader'),
      maxWaitTimeInMs: 50,
    });
    this.#verdictReader = reader;
    await reader.connect();
    await reader.subscribe({ topic: this.edgeWorld.topics.verdicts, fromBeginning: true });
    await reader.run({
      eachMessage: async ({ message }) => {
        if (!message.value) return;
        this.verdicts.push(await this.edgeWorld.catalog.decode('verdicts', message.value));
        for (const wake of this.#verdictWaiters.splice(0)) wake();
      },
    });
  }

  async tearDown(): Promise<void> {
    for (const subscriber of this.#subscribers.splice(0)) await subscriber.close();
    for (const bridge of this.#bridges.splice(0)) await bridge.stop().catch(() => undefined);
    for (const service of this.#processors.splice(0)) await service.stop().catch(() => undefined);
    await this.#verdictReader?.disconnect().catch(() => undefined);
    await this.edgeWorld.tearDown();
  }
}
