import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { RunningIngest } from '../../ingest/main.js';
import { EdgeTestWorld, listenerPort, RawDevice } from '../helpers/edge.js';
import { selfSignedCertificate } from '../helpers/tls.js';

/**
 * Sockets that never send CONNECT, against a real edge: bounded per source address and in total
 * at accept, closed at their deadline without holding up a device that does connect, and nothing
 * of them left afterwards.
 */
const world = new EdgeTestWorld();
const password = 'correct-horse-battery-staple';
const maxPending = 60;
const maxPerAddress = 20;
/** Long enough for a test to open its sockets and connect a device before it passes. */
const connectTimeoutMs = 3000;
const limits = {
  SENTINEL_MQTT_MAX_PENDING_CONNECTS: String(maxPending),
  SENTINEL_MQTT_MAX_PENDING_CONNECTS_PER_ADDRESS: String(maxPerAddress),
  SENTINEL_MQTT_CONNECT_TIMEOUT_MS: String(connectTimeoutMs),
};
let edge: RunningIngest;
let port: number;

/** Silent sockets from `localAddress`, each resolving `closed` when the proxy closes it. */
async function openSilent(count: number, localAddress: string, targetPort = port) {
  const sockets = await Promise.all(
    Array.from({ length: count }, async () => {
      const socket = createConnection({ host: '127.0.0.1', port: targetPort, localAddress });
      socket.on('error', () => undefined);
      const closed = once(socket, 'close').then(() => undefined);
      await once(socket, 'connect');
      return { socket, closed };
    }),
  );
  return sockets;
}

/** Resolves once `n` of the sockets were closed by the proxy. */
function closedCount(sockets: Array<{ closed: Promise<void> }>, n: number): Promise<void> {
  let done = 0;
  return new Promise((resolve) => {
    if (n === 0) resolve();
    for (const { closed } of sockets) void closed.then(() => ++done === n && resolve());
  });
}

async function rejected(running: RunningIngest): Promise<Record<string, number>> {
  const metric = await running.registry.getSingleMetric('sentinel_ingest_connections_rejected_total')?.get();
  return Object.fromEntries((metric?.values ?? []).map((v) => [String(v.labels.reason), v.value]));
}

async function pendingGauge(running: RunningIngest): Promise<number | undefined> {
  const metric = await running.registry.getSingleMetric('sentinel_ingest_pending_connects')?.get();
  return metric?.values[0]?.value;
}

/** Proxy-closed after their deadline: then nothing of them is counted or kept. */
async function allExpired(running: RunningIngest, sockets: Array<{ socket: Socket; closed: Promise<void> }>) {
  await Promise.all(sockets.map(({ closed }) => closed));
  assert.equal(await pendingGauge(running), 0);
  assert.deepEqual(running.edge.pendingConnects, { sockets: 0, addresses: 0 });
}

before(async () => {
  await world.setUp();
  await world.addDevices(['legit-1', 'legit-2'], password);
  edge = await world.startEdge(limits);
  port = listenerPort(edge, 'mqtt');
});

after(() => world.tearDown());

describe('sockets that have not completed CONNECT are bounded', () => {
  it('from one address: the excess is closed at accept, a device from another address gets its CONNACK before their deadline, and they are gone after it', async () => {
    const before = await rejected(edge);
    const silent = await openSilent(maxPerAddress + 5, '127.0.0.2');
    await closedCount(silent, 5);
    assert.equal(
      (await rejected(edge)).pending_connects_per_address,
      (before.pending_connects_per_address ?? 0) + 5,
    );
    assert.equal(await pendingGauge(edge), maxPerAddress);

    const device = await RawDevice.connect(port, { clientId: 'legit-1', password });
    const stillPending = silent.filter(({ socket }) => !socket.closed).length;
    assert.equal(
      stillPending,
      maxPerAddress,
      'the CONNACK came before the silent sockets met their deadline',
    );
    await device.ping();

    await allExpired(edge, silent);
    const after = await rejected(edge);
    assert.equal(after.connect_timeout, (before.connect_timeout ?? 0) + maxPerAddress);
    await device.ping();
    device.destroy();
  });

  it('from many addresses: the excess over the total is closed at accept, and once the rest met its deadline a device connects again', async () => {
    const before = await rejected(edge);
    const addresses = Array.from({ length: 8 }, (_, i) => `127.0.0.${10 + i}`);
    const silent = (await Promise.all(addresses.map((address) => openSilent(10, address)))).flat();
    await closedCount(silent, silent.length - maxPending);
    assert.equal(
      (await rejected(edge)).pending_connects,
      (before.pending_connects ?? 0) + silent.length - maxPending,
    );
    assert.equal(await pendingGauge(edge), maxPending);

    await allExpired(edge, silent);
    const device = await RawDevice.connect(port, { clientId: 'legit-2', password });
    await device.ping();
    device.destroy();
  });

  it('on the TLS listener too: silent sockets count from the TCP accept and are closed at the deadline, handshake unfinished', async (t) => {
    const certificate = selfSignedCertificate();
    t.after(() => certificate.remove());
    const tlsEdge = await world.startEdge({
      ...limits,
      SENTINEL_INGEST_TLS_CERT: certificate.cert,
      SENTINEL_INGEST_TLS_KEY: certificate.key,
      SENTINEL_INGEST_PLAIN_TCP: 'false',
    });
    const silent = await openSilent(maxPerAddress + 2, '127.0.0.3', listenerPort(tlsEdge, 'mqtts'));
    await closedCount(silent, 2);
    assert.equal((await rejected(tlsEdge)).pending_connects_per_address, 2);
    assert.equal(await pendingGauge(tlsEdge), maxPerAddress);
    await allExpired(tlsEdge, silent);
  });
});
