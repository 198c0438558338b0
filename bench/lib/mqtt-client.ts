import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

/**
 * The benchmarks' MQTT 3.1.1 client: a socket, mqtt-packet's parser and writer, nothing else, so a
 * load process spends its core on sending and not on a client library's bookkeeping (MQTT.js keeps
 * a store and timers per message). Used only by benchmarks, against the edge and against Mosquitto.
 */
export interface MqttTarget {
  readonly host: string;
  readonly port: number;
}

export interface MqttIdentity {
  readonly clientId: string;
  readonly username?: string;
  readonly password?: string;
}

/** The server answered the CONNECT, with a refusal (MQTT 3.1.1 §3.2.2.3: 0x03 server unavailable...). */
export class ConnackRefused extends Error {
  constructor(
    clientId: string,
    readonly returnCode: number,
  ) {
    super(`${clientId}: CONNACK ${returnCode}`);
  }
}

export class BenchMqttClient {
  private nextMessageId = 1;
  onPacket: ((packet: Packet) => void) | undefined;
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.once('close', () => {
      this.closed = true;
    });
  }

  /** Opens a TCP connection (from `localAddress` when given) and completes CONNECT; rejects unless CONNACK 0. */
  static async connect(
    target: MqttTarget,
    identity: MqttIdentity,
    options: { localAddress?: string; keepaliveSeconds?: number; timeoutMs?: number } = {},
  ): Promise<BenchMqttClient> {
    const socket = createConnection({
      host: target.host,
      port: target.port,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    socket.setNoDelay(true);
    const client = new BenchMqttClient(socket);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet: Packet) => client.onPacket?.(packet));
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    const failed = new Promise<never>((_, reject) => {
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(`${identity.clientId}: closed before CONNACK`)));
    });
    failed.catch(() => undefined);
    const timeoutMs = options.timeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${identity.clientId}: no CONNACK in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([once(socket, 'connect'), failed, timeout]);
      const connack = new Promise<void>((resolve, reject) => {
        client.onPacket = (packet) => {
          if (packet.cmd !== 'connack') return;
          client.onPacket = undefined;
          if (packet.returnCode === 0) resolve();
          else reject(new ConnackRefused(identity.clientId, packet.returnCode ?? -1));
        };
      });
      socket.write(
        mqttPacket.generate({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clean: true,
          keepalive: options.keepaliveSeconds ?? 300,
          clientId: identity.clientId,
          ...(identity.username === undefined ? {} : { username: identity.username }),
          ...(identity.password === undefined ? {} : { password: Buffer.from(identity.password) }),
        }),
      );
      await Promise.race([connack, failed, timeout]);
    } catch (error) {
      socket.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    socket.removeAllListeners('error');
    socket.on('error', () => undefined);
    return client;
  }

  /** Writes a PUBLISH; returns its message id (0 for QoS 0) and whether the socket buffer has room. */
  publish(topic: string, payload: Buffer, qos: 0 | 1): { messageId: number; writable: boolean } {
    const messageId = qos === 0 ? 0 : this.takeMessageId();
    const writable = this.socket.write(
      mqttPacket.generate({
        cmd: 'publish',
        topic,
        payload,
        qos,
        ...(qos === 0 ? {} : { messageId }),
        retain: false,
        dup: false,
      }),
    );
    return { messageId, writable };
  }

  /** SUBSCRIBE and wait for its SUBACK; rejects when the broker refused the filter. */
  async subscribe(filter: string, qos: 0 | 1): Promise<void> {
    const messageId = this.takeMessageId();
    const previous = this.onPacket;
    await new Promise<void>((resolve, reject) => {
      this.onPacket = (packet) => {
        if (packet.cmd === 'suback' && packet.messageId === messageId) {
          this.onPacket = previous;
          if (packet.granted[0] === 128) reject(new Error(`SUBSCRIBE ${filter} refused`));
          else resolve();
        } else previous?.(packet);
      };
      this.socket.write(
        mqttPacket.generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic: filter, qos }] }),
      );
    });
  }

  /** PINGREQ: what an idle device sends within its Keep Alive so the server keeps the session. */
  ping(): void {
    if (!this.closed) this.socket.write(mqttPacket.generate({ cmd: 'pingreq' }));
  }

  puback(messageId: number): void {
    this.socket.write(mqttPacket.generate({ cmd: 'puback', messageId }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.socket.end(mqttPacket.generate({ cmd: 'disconnect' }));
    await Promise.race([once(this.socket, 'close'), new Promise((resolve) => setTimeout(resolve, 1000))]);
    this.socket.destroy();
  }

  private takeMessageId(): number {
    const id = this.nextMessageId;
    this.nextMessageId = id === 65535 ? 1 : id + 1;
    return id;
  }
}
