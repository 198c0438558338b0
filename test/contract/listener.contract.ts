import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { waitFor } from '../../platform/processes.js';
import { edgeMetric, RawDevice } from '../helpers/edge.js';
import type { ListenerUnderTest } from '../helpers/listener-transports.js';

const password = 'listener-contract-password';

/** The devices every listener under test registers: their ids and their one password. */
export const listenerDevices = { clientIds: ['lc-connect', 'lc-split', 'lc-closing'], password } as const;

/**
 * What every edge listener guarantees, whatever carries MQTT (plain TCP, TLS, behind a load
 * balancer speaking the PROXY protocol): a device is accepted and recorded at the address it really
 * has, bytes arriving in any segmentation are read whole, a silent socket costs nothing past its
 * deadline, a protocol error closes the connection with its reason recorded, and a closed
 * connection is no longer counted. One suite, run once per listener kind, so no kind can drift.
 */
export function listenerContract(
  name: string,
  start: (devices: typeof listenerDevices) => Promise<ListenerUnderTest>,
): void {
  describe(`listener contract: ${name}`, () => {
    let under: ListenerUnderTest;

    const metric = (name: string, labels: Record<string, string> = {}) =>
      edgeMetric(under.edge, name, labels);
    const eventually = (what: string, check: () => Promise<boolean>) =>
      waitFor(what, check, { timeoutMs: 10_000, intervalMs: 50 });

    // Bounded, so a platform that cannot serve (a coordinator that never loads) fails the suite
    // with the hook named instead of holding the run.
    before(
      async () => {
        under = await start(listenerDevices);
      },
      { timeout: 180_000 },
    );

    after(
      async () => {
        await under?.close();
      },
      { timeout: 60_000 },
    );

    it('accepts a device and records the address it connects from', { timeout: 60_000 }, async () => {
      const { socket, source } = await under.open();
      const device = await RawDevice.handshake(socket, { clientId: 'lc-connect', password });
      try {
        const event = await under.world.waitForEvent(
          (e) => e.clientId === 'lc-connect' && e.packetType === 'CONNECT',
        );
        assert.equal(event.sourceIp, source.ip);
        assert.equal(event.sourcePort, source.port);
        assert.equal(event.authResult, 'allowed');
      } finally {
        device.destroy();
      }
    });

    it('reads a packet that arrives one byte at a time', { timeout: 60_000 }, async () => {
      const { socket } = await under.open();
      const device = await RawDevice.handshake(socket, { clientId: 'lc-split', password });
      try {
        const publish: Packet = {
          cmd: 'publish',
          topic: 'devices/lc-split/telemetry',
          payload: Buffer.from('{"t":21.5}'),
          qos: 1,
          messageId: 7,
          retain: false,
          dup: false,
        };
        for (const byte of mqttPacket.generate(publish)) {
          socket.write(Buffer.of(byte));
          await new Promise((resolve) => setImmediate(resolve));
        }
        await device.waitFor((p) => p.cmd === 'puback' && p.messageId === 7);
        const event = await under.world.waitForEvent(
          (e) => e.clientId === 'lc-split' && e.packetType === 'PUBLISH',
        );
        assert.equal(event.payload?.toString(), '{"t":21.5}');
      } finally {
        device.destroy();
      }
    });

    it('closes a silent connection at its CONNECT deadline and stops counting it', {
      timeout: 60_000,
    }, async () => {
      const pendingBefore = await metric('sentinel_ingest_pending_connects');
      const opened = performance.now();
      const silent = RawDevice.over((await under.open()).socket);
      await silent.whenClosed();
      const waited = performance.now() - opened;
      assert.ok(
        waited >= under.connectTimeoutMs - 100,
        `closed after ${Math.round(waited)} ms, before its deadline`,
      );
      await eventually('the pending count back where it was', async () => {
        return (await metric('sentinel_ingest_pending_connects')) === pendingBefore;
      });
    });

    it('closes a connection whose first packet is not CONNECT and records why, at its address', {
      timeout: 60_000,
    }, async () => {
      const violations = await metric('sentinel_ingest_protocol_violations_total', {
        code: 'SNT_MQTT_FIRST_PACKET_NOT_CONNECT',
      });
      const { socket, source } = await under.open();
      const device = RawDevice.over(socket);
      device.send({ cmd: 'pingreq' });
      await device.whenClosed();
      assert.equal(device.received.length, 0, 'nothing answered before closing');
      await eventually('the violation counted', async () => {
        const now = await metric('sentinel_ingest_protocol_violations_total', {
          code: 'SNT_MQTT_FIRST_PACKET_NOT_CONNECT',
        });
        return now === violations + 1;
      });
      const event = await under.world.waitForEvent(
        (e) => e.packetType === 'MALFORMED' && e.sourcePort === source.port && e.sourceIp === source.ip,
      );
      assert.equal(event.malformedReason, 'SNT_MQTT_FIRST_PACKET_NOT_CONNECT');
      assert.equal(event.refusal, 'protocol');
    });

    it('stops counting a connection once the device has gone', { timeout: 60_000 }, async () => {
      const active = await metric('sentinel_ingest_connections_active', { listener: under.listener });
      const { socket } = await under.open();
      const device = await RawDevice.handshake(socket, { clientId: 'lc-closing', password });
      await eventually('the connection counted', async () => {
        return (
          (await metric('sentinel_ingest_connections_active', { listener: under.listener })) === active + 1
        );
      });
      device.destroy();
      await eventually('the connection no longer counted', async () => {
        return (await metric('sentinel_ingest_connections_active', { listener: under.listener })) === active;
      });
    });
  });
}
