import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import mqtt, { type MqttClient } from 'mqtt';
import type mqttPacket from 'mqtt-packet';
import type { RunningIngest } from '../../ingest/main.js';
import { createKafka } from '../../lib/kafka/client.js';
import { kafkaBootstrap, projectRoot as projectRootForTests } from '../../lib/local-platform.js';
import { runToCompletion } from '../../lib/process/run.js';
import { freePort } from '../../platform/processes.js';
import { EdgeTestWorld, listenerPort, RawDevice } from '../helpers/edge.js';
import { uniqueName } from '../helpers/platform.js';
import { connectBytes as connectBytesOf, sendRaw as sendRawTo } from '../helpers/raw-mqtt.js';
import { selfSignedCertificate, type TestCertificate } from '../helpers/tls.js';

const world = new EdgeTestWorld();
let edge: RunningIngest;
let port: number;
const password = 'correct-horse-battery-staple';

async function connectClient(
  clientId: string,
  options: mqtt.IClientOptions = {},
  targetPort = port,
): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${targetPort}`, {
    clientId,
    username: clientId,
    password,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...options,
  });
}

const run = (command: string, args: string[]) => runToCompletion(command, args);

/** IPv4 sockets in LISTEN on `port`, from the kernel's table (state 0A; the port is hex). */
function listeningSockets(port: number): number {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A').length;
}

const sendRaw = (bytes: Buffer, targetPort = port) => sendRawTo(bytes, targetPort);
const connectBytes = (clientId: string, extra: Partial<mqttPacket.IConnectPacket> = {}) =>
  connectBytesOf(clientId, password, extra);

before(async () => {
  await world.setUp();
  for (const id of [
    'dev-a',
    'dev-b',
    'dev-c',
    'dev-will',
    'dev-takeover',
    'dev-raw',
    'dev-tls',
    'dev-drain',
  ]) {
    await world.addDevice({
      clientId: id,
      username: id,
      password,
      publish: ['devices/%c/#'],
      subscribe: ['clients/%c/#', 'devices/%c/#'],
    });
  }
  edge = await world.startEdge();
  port = listenerPort(edge, 'mqtt');
});

after(() => world.tearDown());

describe('edge ingest with real MQTT clients', () => {
  it('mosquitto_pub with valid credentials: CONNACK 0, and the PUBLISH is in Kafka, decoded through the registry', async () => {
    const marker = randomUUID();
    const result = await run('mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', String(port), '-i', 'dev-a', '-u', 'dev-a', '-P', password],
      ...['-t', 'devices/dev-a/telemetry', '-m', JSON.stringify({ t: 21.5, marker }), '-q', '1', '-d'],
    ]);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /received CONNACK \(0\)/);
    assert.match(result.output, /received PUBACK/);
    const publish = await world.waitForEvent(
      (e) => e.packetType === 'PUBLISH' && e.payload?.toString().includes(marker) === true,
    );
    assert.equal(publish.clientId, 'dev-a');
    assert.equal(publish.topic, 'devices/dev-a/telemetry');
    assert.equal(publish.qos, 1);
    assert.equal(publish.sourceIp, '127.0.0.1');
    assert.equal(publish.proxyId, edge.proxyId);
    const connect = await world.waitForEvent(
      (e) => e.packetType === 'CONNECT' && e.connectionId === publish.connectionId,
    );
    assert.equal(connect.authResult, 'allowed');
    assert.equal(connect.username, 'dev-a');
    assert.ok(!JSON.stringify(connect).includes(password), 'the CONNECT event carries no password');
  });

  it('invalid credentials: CONNACK 5 and an auth-denied event', async () => {
    const result = await run('mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', String(port), '-i', 'dev-b', '-u', 'dev-b', '-P', 'not-the-password'],
      ...['-t', 'devices/dev-b/telemetry', '-m', 'x', '-q', '1', '-d'],
    ]);
    assert.notEqual(result.code, 0);
    assert.match(result.output, /received CONNACK \(5\)/);
    const denied = await world.waitForEvent(
      (e) => e.packetType === 'CONNECT' && e.clientId === 'dev-b' && e.authResult === 'denied',
    );
    assert.match(denied.edgeAction ?? '', /^auth_denied:/);
  });

  it('acknowledges and drops a PUBLISH outside the device ACL, and refuses such a SUBSCRIBE with 0x80', async () => {
    const client = await connectClient('dev-c');
    try {
      await client.publishAsync('devices/someone-else/telemetry', 'x', { qos: 1 });
      const denied = await world.waitForEvent(
        (e) => e.clientId === 'dev-c' && e.edgeAction === 'acl_denied:acked_and_dropped',
      );
      assert.equal(denied.topic, 'devices/someone-else/telemetry');
      assert.equal(denied.refusal, 'acl_denied');
      assert.equal(denied.payload?.toString(), 'x', 'an analyst sees what the device tried to write');
      const granted = await client.subscribeAsync('clients/dev-c/alerts', { qos: 1 });
      assert.deepEqual(
        granted.map((g) => g.qos),
        [1],
      );
      // MQTT.js turns a SUBACK return code 0x80 into a rejected subscribe.
      await assert.rejects(client.subscribeAsync('#', { qos: 0 }), /Unspecified error/);
      const refusedSubscribe = await world.waitForEvent(
        (e) => e.clientId === 'dev-c' && e.packetType === 'SUBSCRIBE' && e.subscriptions?.[0]?.topic === '#',
      );
      assert.equal(refusedSubscribe.refusal, 'acl_denied');
      assert.equal(refusedSubscribe.edgeAction, 'acl_denied:suback_failure:0');
    } finally {
      await client.endAsync();
    }
  });

  it('delivers a message produced to sentinel.downlink to the matching subscriber at its QoS', async () => {
    const client = await connectClient('dev-a');
    try {
      await client.subscribeAsync('clients/dev-a/alerts', { qos: 1 });
      const received = new Promise<[string, Buffer, mqttPacket.IPublishPacket]>((resolve) =>
        client.once('message', (topic, payload, packet) => resolve([topic, payload, packet])),
      );
      const producer = createKafka({
        brokers: kafkaBootstrap(world.platform),
        clientId: uniqueName('downlink-test'),
      }).producer();
      await producer.connect();
      await producer.send({
        topic: world.topics.downlink,
        acks: -1,
        messages: [
          {
            key: 'dev-a',
            value: world.catalog.encode('downlink', {
              messageId: randomUUID(),
              topic: 'clients/dev-a/alerts',
              payload: Buffer.from('{"alert":"reboot"}'),
              qos: 1,
              retain: false,
              targetClientId: 'dev-a',
              originReceivedAt: Date.now(),
              bridgeId: 'test',
            }),
          },
        ],
      });
      await producer.disconnect();
      const [topic, payload, packet] = await received;
      assert.equal(topic, 'clients/dev-a/alerts');
      assert.equal(payload.toString(), '{"alert":"reboot"}');
      assert.equal(packet.qos, 1);
    } finally {
      await client.endAsync();
    }
  });

  it('publishes the will when keep-alive expires (1.5 x Keep Alive of silence)', async () => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    // Flowing mode, so the proxy's FIN is read and 'close' fires.
    socket.resume();
    socket.write(
      connectBytes('dev-will', {
        keepalive: 1,
        will: { topic: 'devices/dev-will/status', payload: Buffer.from('offline'), qos: 1, retain: false },
      }),
    );
    await once(socket, 'close');
    const will = await world.waitForEvent((e) => e.clientId === 'dev-will' && e.edgeAction === 'will');
    assert.equal(will.topic, 'devices/dev-will/status');
    assert.equal(will.payload?.toString(), 'offline');
    await world.waitForEvent(
      (e) => e.clientId === 'dev-will' && e.malformedReason === 'SNT_MQTT_KEEPALIVE_EXPIRED',
    );
  });
});

describe('edge refuses malformed packets: connection closed, event recorded, others still served', () => {
  const connect = connectBytes('dev-raw');
  const rows: Array<[string, Buffer, string]> = [
    ['first packet not CONNECT', Buffer.from('c000', 'hex'), 'SNT_MQTT_FIRST_PACKET_NOT_CONNECT'],
    [
      'reserved packet type 0',
      Buffer.concat([connect, Buffer.from('0000', 'hex')]),
      'SNT_MQTT_RESERVED_PACKET_TYPE',
    ],
    [
      'remaining length over the limit, refused from the fixed header',
      Buffer.concat([connect, Buffer.from('30ffffff7f', 'hex')]),
      'SNT_MQTT_PACKET_TOO_LARGE',
    ],
    ['second CONNECT', Buffer.concat([connect, connect]), 'SNT_MQTT_SECOND_CONNECT'],
    [
      'PUBLISH with QoS 3',
      Buffer.concat([connect, Buffer.from('3600', 'hex')]),
      'SNT_MQTT_PUBLISH_QOS_INVALID',
    ],
    [
      'wildcard in a PUBLISH topic',
      Buffer.concat([connect, Buffer.from('3005000361232b', 'hex')]),
      'SNT_MQTT_TOPIC_NAME_WILDCARD',
    ],
    [
      'SUBSCRIBE with wrong fixed-header flags',
      Buffer.concat([connect, Buffer.from('8006000100016100', 'hex')]),
      'SNT_MQTT_FIXED_HEADER_FLAGS',
    ],
    [
      'client sends a CONNACK',
      Buffer.concat([connect, Buffer.from('20020000', 'hex')]),
      'SNT_MQTT_SERVER_ONLY_PACKET',
    ],
  ];
  for (const [what, bytes, code] of rows) {
    it(`${what} -> ${code}`, async () => {
      await sendRaw(bytes);
      const event = await world.waitForEvent(
        (e) => e.packetType === 'MALFORMED' && e.malformedReason === code,
      );
      assert.ok(event.malformedClause, 'the event names the clause');
    });
  }

  it('survives random and mutated byte streams (fast-check), then still serves a valid client', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 64 }),
          fc.uint8Array({ minLength: 1, maxLength: 32 }).map((tail) => Buffer.concat([connect, tail])),
        ),
        async (bytes) => {
          const socket = createConnection({ host: '127.0.0.1', port });
          socket.on('error', () => undefined);
          await once(socket, 'connect');
          socket.write(Buffer.from(bytes));
          // Either the proxy closes the connection or it is still a valid session: end it ourselves.
          setTimeout(() => socket.destroy(), 200);
          await once(socket, 'close');
        },
      ),
      { numRuns: 40 },
    );
    const client = await connectClient('dev-b');
    assert.ok(client.connected);
    await client.endAsync();
  });
});

describe('sessions across proxies', () => {
  it('a CONNECT with the same client id on another proxy process disconnects the first (MQTT-3.1.4-2)', async () => {
    const { child, port: otherPort } = await world.spawnEdgeProcess();
    try {
      const first = await connectClient('dev-takeover');
      const closed = new Promise<void>((resolve) => first.once('close', () => resolve()));
      const second = await connectClient('dev-takeover', {}, otherPort);
      await closed;
      assert.ok(second.connected, 'the newer session stays');
      await second.endAsync();
      await first.endAsync(true);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  it('a persistent session gets its subscriptions back on reconnect, with session present', async () => {
    const first = await connectClient('dev-c', { clean: false });
    await first.subscribeAsync('clients/dev-c/alerts', { qos: 1 });
    await first.endAsync();
    const again = await connectClient('dev-c', { clean: false });
    try {
      const connack = (again as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket;
      assert.equal(connack?.sessionPresent, true);
    } finally {
      await again.endAsync();
    }
  });
});

describe('TLS listener', () => {
  let tlsEdge: RunningIngest;
  let certificate: TestCertificate | undefined;

  before(async () => {
    certificate = selfSignedCertificate();
    tlsEdge = await world.startEdge({
      SENTINEL_INGEST_TLS_CERT: certificate.cert,
      SENTINEL_INGEST_TLS_KEY: certificate.key,
      SENTINEL_INGEST_PLAIN_TCP: 'false',
    });
  });

  after(() => certificate?.remove());

  it('accepts MQTT over TLS 1.2+ with a certificate the client verifies', async () => {
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${listenerPort(tlsEdge, 'mqtts')}`, {
      clientId: 'dev-tls',
      username: 'dev-tls',
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
      ca: certificate!.ca,
    });
    try {
      await client.publishAsync('devices/dev-tls/telemetry', 'over-tls', { qos: 1 });
      const event = await world.waitForEvent((e) => e.clientId === 'dev-tls' && e.packetType === 'PUBLISH');
      assert.equal(event.payload?.toString(), 'over-tls');
    } finally {
      await client.endAsync();
    }
  });

  it('refuses TLS below 1.2 in the handshake', async () => {
    const { connect } = await import('node:tls');
    const socket = connect({
      host: '127.0.0.1',
      port: listenerPort(tlsEdge, 'mqtts'),
      maxVersion: 'TLSv1.1',
      minVersion: 'TLSv1',
      rejectUnauthorized: false,
    });
    const [error] = (await once(socket, 'error').catch((err: unknown) => [err])) as [Error];
    assert.ok(error instanceof Error);
  });
});

describe('rate-limit tiers at the edge', () => {
  let limited: RunningIngest;
  let limitedPort: number;

  before(async () => {
    await world.addDevices(['rl-1', 'rl-2', 'rl-3', 'rl-4'], password);
    limited = await world.startEdge({
      SENTINEL_RATE_PUBLISH_PER_SECOND: '1',
      SENTINEL_RATE_PUBLISH_BURST: '1',
      SENTINEL_RATE_SUBSCRIBE_PER_SECOND: '1',
      SENTINEL_RATE_SUBSCRIBE_BURST: '1',
    });
    limitedPort = listenerPort(limited, 'mqtt');
  });

  it('PUBLISH tier: a QoS 1 PUBLISH over the limit is acknowledged and dropped, and recorded', async () => {
    const client = await connectClient('rl-1', {}, limitedPort);
    try {
      await client.publishAsync('devices/rl-1/telemetry', 'first', { qos: 1 });
      await client.publishAsync('devices/rl-1/telemetry', 'second', { qos: 1 });
      const event = await world.waitForEvent(
        (e) => e.clientId === 'rl-1' && e.edgeAction === 'rate_limited:publish:ack-and-drop',
      );
      assert.equal(event.payload, null, 'a limited packet is recorded without its payload');
    } finally {
      await client.endAsync();
    }
  });

  it('PUBLISH tier: a QoS 2 PUBLISH over the limit is acknowledged and dropped through the session: PUBREC, then PUBCOMP for its PUBREL, no PUBREL_UNKNOWN_ID', async () => {
    const device = await RawDevice.connect(limitedPort, { clientId: 'rl-4', password });
    try {
      const qos2 = (messageId: number) =>
        ({
          cmd: 'publish',
          topic: 'devices/rl-4/telemetry',
          payload: Buffer.from(`m${messageId}`),
          qos: 2,
          dup: false,
          retain: false,
          messageId,
        }) as const;
      for (const messageId of [1, 2]) {
        device.send(qos2(messageId));
        await device.waitFor((p) => p.cmd === 'pubrec' && p.messageId === messageId);
        device.send({ cmd: 'pubrel', messageId });
        await device.waitFor((p) => p.cmd === 'pubcomp' && p.messageId === messageId);
      }
      const event = await world.waitForEvent(
        (e) => e.clientId === 'rl-4' && e.edgeAction === 'rate_limited:publish:ack-and-drop',
      );
      assert.equal(event.messageId, 2);
      const events = await limited.registry.getSingleMetric('sentinel_ingest_protocol_events_total')?.get();
      assert.deepEqual(
        events?.values.filter((v) => v.labels.code === 'SNT_MQTT_PUBREL_UNKNOWN_ID'),
        [],
      );
    } finally {
      device.destroy();
    }
  });

  it('SUBSCRIBE tier: a SUBSCRIBE over the limit gets SUBACK 0x80', async () => {
    const client = await connectClient('rl-2', {}, limitedPort);
    try {
      await client.subscribeAsync('clients/rl-2/alerts', { qos: 1 });
      await assert.rejects(client.subscribeAsync('clients/rl-2/commands', { qos: 1 }), /Unspecified error/);
      await world.waitForEvent(
        (e) => e.clientId === 'rl-2' && e.edgeAction === 'rate_limited:subscribe:suback-failure',
      );
    } finally {
      await client.endAsync();
    }
  });

  it('CONNECT tier: a CONNECT over the per-IP limit gets CONNACK 5 and a rate_limited event', async () => {
    const strict = await world.startEdge({
      SENTINEL_RATE_CONNECT_PER_SECOND: '1',
      SENTINEL_RATE_CONNECT_BURST: '1',
    });
    const strictPort = listenerPort(strict, 'mqtt');
    const first = await connectClient('rl-3', {}, strictPort);
    await first.endAsync();
    const refused = await connectClient('rl-3', {}, strictPort).then(
      (client) => client.endAsync().then(() => undefined),
      (err: Error & { code?: number }) => err,
    );
    assert.ok(refused instanceof Error, 'the second CONNECT within the second was refused');
    assert.equal(refused.code, 5);
    await world.waitForEvent((e) => e.clientId === 'rl-3' && e.authResult === 'rate_limited');
  });
});

describe('edge worker processes', () => {
  it('SENTINEL_INGEST_WORKERS=2: two processes listen on one port (SO_REUSEPORT) and their metrics are summed', async () => {
    const mqttPort = await freePort();
    const metricsPort = await freePort();
    const child = spawn(process.execPath, [join(projectRootForTests, 'dist', 'cli', 'main.js'), 'ingest'], {
      env: {
        ...process.env,
        ...world.env({
          SENTINEL_INGEST_WORKERS: '2',
          SENTINEL_INGEST_PORT: String(mqttPort),
          SENTINEL_INGEST_METRICS_PORT: String(metricsPort),
          SENTINEL_LOG_LEVEL: 'warn',
        }),
        // No configured cache key: the workers must still share one (the primary draws it).
        SENTINEL_AUTH_CACHE_SECRET: '',
      },
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    try {
      let ready = false;
      for (let i = 0; i < 150 && !ready; i++) {
        ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
        if (!ready) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.ok(ready, 'both workers reported ready');
      assert.equal(
        listeningSockets(mqttPort),
        2,
        'each worker listens with a socket of its own, not through the primary',
      );
      // The kernel picks a worker by a hash of each connection's addresses: with 24 connections the
      // chance that one worker gets none is 2 in 2^24.
      const connections = 24;
      for (let i = 0; i < connections; i++) {
        const client = await connectClient('dev-b', {}, mqttPort);
        await client.endAsync();
      }
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const opened = [
        ...metrics.matchAll(/^sentinel_ingest_connections_opened_total\{[^}]*instance="([^"]+)"\} (\d+)/gm),
      ];
      assert.equal(opened.length, 2, 'one series per worker');
      assert.equal(
        opened.reduce((sum, match) => sum + Number(match[2]), 0),
        connections,
      );
      for (const match of opened) assert.ok(Number(match[2]) > 0, `worker ${match[1]} took connections`);
      const authCount = (result: string) =>
        [
          ...metrics.matchAll(
            new RegExp(`^sentinel_auth_requests_total\\{[^}]*result="${result}"[^}]*\\} (\\d+)`, 'gm'),
          ),
        ].reduce((sum, match) => sum + Number(match[1]), 0);
      assert.deepEqual(
        [authCount('allowed'), authCount('cache_hit')],
        [1, connections - 1],
        'one device-DB check; every later CONNECT, on either worker, a cache hit',
      );
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
});

describe('edge shutdown', () => {
  it('SIGTERM: the events in hand reach Kafka and their PUBACKs the device before the proxy exits 0', async () => {
    const { child, port: childPort } = await world.spawnEdgeProcess();
    const exited = once(child, 'exit');
    let device: RawDevice | undefined;
    try {
      device = await RawDevice.connect(childPort, { clientId: 'dev-drain', password });
      // More than the store window (100) in one write: when SIGTERM comes, events are in flight to
      // Kafka and PUBLISHes wait unread behind them.
      const count = 1000;
      device.send(
        ...Array.from({ length: count }, (_, i) => ({
          cmd: 'publish' as const,
          topic: 'devices/dev-drain/telemetry',
          payload: Buffer.from(`drain-${i + 1}`),
          qos: 1 as const,
          messageId: i + 1,
          retain: false,
          dup: false,
        })),
      );
      await device.waitFor((p) => p.cmd === 'puback');
      child.kill('SIGTERM');
      await device.whenClosed();
      const [code] = await exited;
      assert.equal(code, 0, 'drained within the grace period');

      // A marker from the same client id, through the other proxy: it lands behind every event the
      // stopped proxy stored (one partition per client), so once it is read, all of those are.
      const marker = await connectClient('dev-drain');
      await marker.publishAsync('devices/dev-drain/telemetry', 'drain-marker', { qos: 1 });
      await marker.endAsync();
      await world.waitForEvent((e) => e.clientId === 'dev-drain' && e.payload?.toString() === 'drain-marker');
      // Every PUBLISH the proxy read has its event, refused ones too (the per-client rate limit
      // refuses part of a 1,000-message burst: acknowledged, stored without payload, with a refusal).
      const events = world.events.filter(
        (e) =>
          e.clientId === 'dev-drain' &&
          e.packetType === 'PUBLISH' &&
          e.payload?.toString() !== 'drain-marker',
      );
      for (const e of events)
        if (e.payload === null)
          assert.ok(e.refusal, `event of message ${e.messageId} without payload has a refusal`);
      const stored = events.map((e) => e.messageId as number);
      const acknowledged = device.pubacks();
      assert.ok(acknowledged.length > 0 && acknowledged.length <= count);
      assert.deepEqual(
        [...stored].sort((a, b) => a - b),
        [...acknowledged].sort((a, b) => a - b),
        'every stored PUBLISH was acknowledged to the device, and every acknowledged one is stored, once',
      );
    } finally {
      device?.destroy();
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    }
  });
});
