/**
 * The edge behind an L4 load balancer that speaks the PROXY protocol: the device's address comes
 * from the header, on plain TCP (v1 text) and before the TLS handshake (v2 binary), and it is the
 * address the packet events record and the per-IP CONNECT limit counts. A connection without a
 * header is closed before any MQTT is read, and counted.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import type { RunningIngest } from '../../ingest/main.js';
import { EdgeTestWorld, listenerPort } from '../helpers/edge.js';
import { proxyV1Header, proxyV2Header } from '../helpers/listener-transports.js';
import { selfSignedCertificate, type TestCertificate } from '../helpers/tls.js';

const world = new EdgeTestWorld();
const password = 'proxied-device-password';
let edge: RunningIngest;
let certificate: TestCertificate | undefined;

function connectPacket(clientId: string): Buffer {
  return mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    keepalive: 30,
    clientId,
    username: clientId,
    password: Buffer.from(password),
  });
}

/** The first packet the edge sends back (the CONNACK), or `closed` if it closes the connection first. */
function firstReply(socket: Socket): Promise<mqttPacket.Packet | 'closed'> {
  return new Promise((resolve) => {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.once('packet', (packet: mqttPacket.Packet) => resolve(packet));
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.once('close', () => resolve('closed'));
    socket.on('error', () => undefined);
  });
}

async function viaBalancer(header: Buffer, clientId: string): Promise<{ reply: unknown; socket: Socket }> {
  const socket = createConnection({ host: '127.0.0.1', port: listenerPort(edge, 'mqtt') });
  await once(socket, 'connect');
  const reply = firstReply(socket);
  // Header and CONNECT in one segment, as a balancer forwarding a device's first bytes sends them.
  socket.write(Buffer.concat([header, connectPacket(clientId)]));
  return { reply: await reply, socket };
}

before(async () => {
  await world.setUp();
  for (const id of ['pp-1', 'pp-2', 'pp-3', 'pp-tls']) {
    await world.addDevice({ clientId: id, username: id, password, publish: ['devices/%c/#'], subscribe: [] });
  }
  certificate = selfSignedCertificate();
  edge = await world.startEdge({
    SENTINEL_INGEST_PROXY_PROTOCOL: 'any',
    // 127.0.0.1, where this test's "balancer" connects from, is trusted by default (127.0.0.0/8).
    SENTINEL_INGEST_TLS_CERT: certificate.cert,
    SENTINEL_INGEST_TLS_KEY: certificate.key,
    // One CONNECT per source address: the second from the same device address is refused.
    SENTINEL_RATE_CONNECT_PER_SECOND: '1',
    SENTINEL_RATE_CONNECT_BURST: '1',
  });
});

after(async () => {
  certificate?.remove();
  await world.tearDown();
});

describe('PROXY protocol at the edge', () => {
  it('v1 over TCP: the CONNECT event records the address and port from the header, not the socket', async () => {
    const { reply, socket } = await viaBalancer(proxyV1Header('203.0.113.41', 50123), 'pp-1');
    try {
      assert.equal((reply as mqttPacket.IConnackPacket).returnCode, 0);
      const event = await world.waitForEvent((e) => e.clientId === 'pp-1' && e.packetType === 'CONNECT');
      assert.equal(event.sourceIp, '203.0.113.41');
      assert.equal(event.sourcePort, 50123);
    } finally {
      socket.destroy();
    }
  });

  it('the per-IP CONNECT limit counts the stated address: a second device behind it is refused, another address is not', async () => {
    const same = await viaBalancer(proxyV1Header('203.0.113.41', 50124), 'pp-2');
    same.socket.destroy();
    assert.equal((same.reply as mqttPacket.IConnackPacket).returnCode, 5, 'CONNACK 0x05: over the limit');
    const other = await viaBalancer(proxyV1Header('198.51.100.42', 40000), 'pp-3');
    other.socket.destroy();
    assert.equal(
      (other.reply as mqttPacket.IConnackPacket).returnCode,
      0,
      'another device address has its own budget',
    );
    const refused = await world.waitForEvent((e) => e.clientId === 'pp-2' && e.packetType === 'CONNECT');
    assert.equal(refused.sourceIp, '203.0.113.41');
  });

  it('v2 before the TLS handshake: the device address reaches the event of a TLS connection', async () => {
    const raw = createConnection({ host: '127.0.0.1', port: listenerPort(edge, 'mqtts') });
    await once(raw, 'connect');
    raw.write(proxyV2Header('192.0.2.77', 61001));
    const secure = tlsConnect({ socket: raw, ca: certificate!.ca, host: '127.0.0.1' });
    await once(secure, 'secureConnect');
    try {
      const reply = firstReply(secure as unknown as Socket);
      secure.write(connectPacket('pp-tls'));
      assert.equal(((await reply) as mqttPacket.IConnackPacket).returnCode, 0);
      const event = await world.waitForEvent((e) => e.clientId === 'pp-tls' && e.packetType === 'CONNECT');
      assert.equal(event.sourceIp, '192.0.2.77');
      assert.equal(event.sourcePort, 61001);
    } finally {
      secure.destroy();
    }
  });

  it('a connection without a header is closed before MQTT is read, and counted', async () => {
    const socket = createConnection({ host: '127.0.0.1', port: listenerPort(edge, 'mqtt') });
    await once(socket, 'connect');
    const reply = firstReply(socket);
    socket.write(connectPacket('pp-1'));
    assert.equal(await reply, 'closed', 'no CONNACK: the connection is closed');
    const metrics = await edge.registry.getSingleMetricAsString(
      'sentinel_ingest_proxy_protocol_refused_total',
    );
    assert.match(metrics, /sentinel_ingest_proxy_protocol_refused_total\{reason="missing"[^}]*\} 1/);
  });
});
