import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { RunningIngest } from '../../ingest/main.js';
import { EdgeTestWorld, edgeMetric, listenerPort, RawDevice } from '../helpers/edge.js';

/**
 * Uncached CONNECTs beyond what the KDF can verify before their CONNECT deadline, against a real
 * edge: every one is answered (verified, or refused with 0x03 while its device still listens),
 * none is left to be closed at the deadline.
 */
const world = new EdgeTestWorld();
/** The deadline: 1 s of it kept for what follows a decision leaves the KDF 1.5 s. */
const connectTimeoutMs = 2500;
/** One scrypt at a time: far more work than 1.5 s can take, on any machine this runs on. */
const storm = 1200;
let edge: RunningIngest;
let port: number;

before(async () => {
  await world.setUp();
  edge = await world.startEdge({
    SENTINEL_MQTT_CONNECT_TIMEOUT_MS: String(connectTimeoutMs),
    SENTINEL_AUTH_KDF_CONCURRENCY: '1',
    SENTINEL_MQTT_MAX_PENDING_CONNECTS: String(2 * storm),
    SENTINEL_MQTT_MAX_PENDING_CONNECTS_PER_ADDRESS: String(2 * storm),
    SENTINEL_RATE_CONNECT_PER_SECOND: '0',
  });
  port = listenerPort(edge, 'mqtt');
});

after(() => world.tearDown());

/** A CONNECT for a device nobody registered (a DB lookup and a scrypt on the dummy hash): its CONNACK code, or 'closed'. */
async function connectUnknown(i: number): Promise<number | 'closed'> {
  const socket = createConnection({ host: '127.0.0.1', port, localAddress: `127.0.3.${(i % 200) + 1}` });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const { device, returnCode } = await RawDevice.answerTo(socket, {
    clientId: `ghost-${i}`,
    password: `guess-${i}`,
  });
  device.destroy();
  return returnCode;
}

describe('uncached CONNECTs beyond the KDF', () => {
  it('are each answered before their deadline: 0x05 when verified, 0x03 when the KDF could not make it in time', async () => {
    const timeoutsBefore = await edgeMetric(edge, 'sentinel_ingest_connections_rejected_total', {
      reason: 'connect_timeout',
    });
    const answers = await Promise.all(Array.from({ length: storm }, (_, i) => connectUnknown(i)));
    const count = (code: number | 'closed') => answers.filter((a) => a === code).length;
    assert.equal(count('closed'), 0, 'no CONNECT left unanswered');
    assert.equal(count(5) + count(3), storm, `only 0x05 and 0x03: ${JSON.stringify([...new Set(answers)])}`);
    assert.ok(count(5) > 0, 'the KDF verified what it could');
    assert.ok(count(3) > 0, 'and refused the rest');
    const refusedForTime =
      (await edgeMetric(edge, 'sentinel_auth_kdf_refused_total', { reason: 'late' })) +
      (await edgeMetric(edge, 'sentinel_auth_kdf_refused_total', { reason: 'expired' }));
    assert.ok(refusedForTime > 0, 'refused for time, not for a full queue');
    assert.equal(await edgeMetric(edge, 'sentinel_auth_kdf_refused_total', { reason: 'full' }), 0);
    assert.equal(
      await edgeMetric(edge, 'sentinel_ingest_connections_rejected_total', { reason: 'connect_timeout' }),
      timeoutsBefore,
    );
  });
});
