import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Backoff } from './backoff.js';
import { createBridgeMetrics } from './metrics.js';
import { OriginLink } from './origin-link.js';

/**
 * An origin over plain TCP (the link's mqtt:// transport) that answers CONNECT and SUBSCRIBE and
 * never PINGREQ; `busy` sends the bridge a QoS 0 PUBLISH every 100 ms, as an origin whose PINGRESP
 * waits behind a burst would.
 */
async function fakeOrigin(busy: boolean) {
  const connections: Socket[] = [];
  let pings = 0;
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  const server: Server = createServer((socket) => {
    connections.push(socket);
    wake();
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    let timer: NodeJS.Timeout | undefined;
    socket.on('close', () => clearInterval(timer));
    socket.on('error', () => undefined);
    parser.on('packet', (packet: Packet) => {
      if (packet.cmd === 'connect') {
        socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }));
        if (busy)
          timer = setInterval(
            () =>
              socket.write(
                mqttPacket.generate({
                  cmd: 'publish',
                  topic: 'fleet/x',
                  payload: Buffer.alloc(64),
                  qos: 0,
                  dup: false,
                  retain: false,
                }),
              ),
            100,
          );
      } else if (packet.cmd === 'subscribe') {
        socket.write(mqttPacket.generate({ cmd: 'suback', messageId: packet.messageId, granted: [2] }));
      } else if (packet.cmd === 'pingreq') {
        pings++;
        wake();
      }
    });
    socket.on('data', (chunk) => parser.parse(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    get connections() {
      return connections.length;
    },
    get pings() {
      return pings;
    },
    async until(condition: () => boolean) {
      while (!condition()) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    close() {
      for (const socket of connections) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function link(url: string): OriginLink {
  return new OriginLink({
    name: 'downlink',
    url,
    clientId: 'bridge-test-downlink',
    username: 'bridge',
    password: 'secret',
    keepAliveSeconds: 1,
    cleanSession: true,
    maxInFlight: 1,
    backoff: new Backoff(10, 50),
    connectTimeoutMs: 2000,
    subscriptions: ['fleet/#'],
    onMessage: async () => undefined,
    metrics: createBridgeMetrics(new Registry()),
    log: pino({ level: 'silent' }),
  });
}

describe('OriginLink keep-alive', () => {
  const stops: Array<() => Promise<void>> = [];
  after(async () => {
    for (const stop of stops) await stop();
  });

  /** A fake origin and a link connected to it, both stopped after the suite. */
  async function linkedTo(busy: boolean) {
    const origin = await fakeOrigin(busy);
    const subject = link(origin.url);
    stops.push(
      () => subject.stop(0),
      () => origin.close(),
    );
    subject.start();
    return { origin, subject };
  }

  it('an origin busy sending to the bridge is alive though its PINGRESP never comes', async () => {
    const { origin, subject } = await linkedTo(true);
    // Three PINGREQs unanswered span more than a Keep Alive past the first.
    await origin.until(() => origin.pings >= 3);
    assert.equal(origin.connections, 1, 'the session was kept');
    assert.equal(subject.isConnected, true);
  });

  it('a silent origin that does not answer PINGREQ is left and connected to again', async () => {
    const { origin } = await linkedTo(false);
    await origin.until(() => origin.connections >= 2);
    assert.ok(origin.pings >= 1);
  });
});
