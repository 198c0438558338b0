import type { ServerResponse } from 'node:http';
import type { KafkaConnection } from '../lib/kafka/client.js';
import { BatchConsumer } from '../lib/kafka/rdkafka.js';
import type { Logger } from '../lib/log.js';
import type { SchemaCatalog } from '../schemas/catalog.js';
import type { Verdict } from '../schemas/types.generated.js';
import type { ConsoleMetrics } from './metrics.js';
import type { VerdictEvent } from './model.js';

export interface VerdictStreamOptions {
  readonly connection: KafkaConnection;
  readonly catalog: SchemaCatalog;
  readonly topic: string;
  readonly groupId: string;
  readonly fetchWaitMs: number;
  readonly metrics: ConsoleMetrics;
  readonly log: Logger;
  /** How long the consumer stays after the last client left (a page reload reconnects within it). */
  readonly lingerMs?: number;
  /** Bytes a client may have unsent before events are skipped for it. */
  readonly maxClientBufferBytes?: number;
}

/**
 * The live verdict stream as Server-Sent Events. A consumer of `sentinel.verdicts` runs only while
 * someone watches (an idle console costs the brokers no fetches), starting at the end of the topic:
 * the stream shows what happens from now on; the past is the forensic store's. A client that does
 * not read has events skipped rather than buffered without bound.
 */
export class VerdictStream {
  private readonly clients = new Set<ServerResponse>();
  private consumer: BatchConsumer | null = null;
  private loop: Promise<void> | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private starting: Promise<void> | null = null;

  constructor(private readonly o: VerdictStreamOptions) {}

  /** Takes over a response: headers, then an event per verdict until the client goes. */
  attach(response: ServerResponse): void {
    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    response.write('retry: 2000\n\n');
    this.clients.add(response);
    this.o.metrics.streamClients.set(this.clients.size);
    response.on('close', () => {
      this.clients.delete(response);
      this.o.metrics.streamClients.set(this.clients.size);
      if (this.clients.size === 0) this.scheduleIdleStop();
    });
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    this.heartbeat ??= setInterval(() => this.broadcast(': keep-alive\n\n'), 15_000);
    this.heartbeat.unref();
    if (!this.consumer && !this.starting) {
      this.starting = this.startConsumer()
        .catch((err: unknown) => this.o.log.warn({ err }, 'verdict stream consumer did not start'))
        .finally(() => {
          this.starting = null;
        });
    }
  }

  get clientCount(): number {
    return this.clients.size;
  }

  async stop(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const client of this.clients) client.end();
    this.clients.clear();
    await this.starting;
    await this.stopConsumer();
  }

  private scheduleIdleStop(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.clients.size === 0) {
        if (this.heartbeat) clearInterval(this.heartbeat);
        this.heartbeat = null;
        void this.stopConsumer();
      }
    }, this.o.lingerMs ?? 30_000);
    this.idleTimer.unref();
  }

  private async startConsumer(): Promise<void> {
    const o = this.o;
    const consumer = new BatchConsumer({
      connection: { ...o.connection, clientId: `${o.connection.clientId}-stream` },
      groupId: o.groupId,
      topics: [o.topic],
      start: 'latest',
      fetchWaitMs: o.fetchWaitMs,
    });
    await consumer.connect();
    this.consumer = consumer;
    this.loop = consumer
      .run(async (records) => {
        for (const record of records) {
          if (!record.value) continue;
          try {
            const verdict = await o.catalog.decode('verdicts', record.value);
            this.broadcast(`event: verdict\ndata: ${JSON.stringify(verdictEvent(verdict))}\n\n`);
          } catch (err) {
            o.log.warn({ err, offset: record.offset }, 'verdict skipped in the live stream: cannot decode');
          }
        }
      }, 200)
      .catch((err: unknown) => o.log.warn({ err }, 'verdict stream consumer stopped'));
  }

  private async stopConsumer(): Promise<void> {
    const consumer = this.consumer;
    if (!consumer) return;
    this.consumer = null;
    await consumer.stopFetching();
    await this.loop;
    await consumer.disconnect();
  }

  private broadcast(text: string): void {
    const limit = this.o.maxClientBufferBytes ?? 1024 * 1024;
    for (const client of this.clients) {
      if (client.writableLength > limit) {
        this.o.metrics.streamDropped.inc();
        continue;
      }
      client.write(text);
    }
  }
}

export function verdictEvent(verdict: Verdict): VerdictEvent {
  return {
    eventId: verdict.eventId,
    clientId: verdict.clientId,
    packetType: verdict.packetType,
    topic: verdict.topic,
    decision: verdict.decision,
    mode: verdict.mode,
    ruleIds: [...new Set(verdict.findings.filter((f) => !f.shadow).map((f) => f.ruleId))],
    decidedAt: verdict.decidedAt,
    operator: verdict.review?.operator ?? null,
  };
}
