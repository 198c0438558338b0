import { once } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { RunningIngest } from '../../ingest/main.js';
import { EdgeTestWorld, listenerPort } from './edge.js';
import { selfSignedCertificate, type TestCertificate } from './tls.js';

/** A PROXY protocol v1 (text) header stating a TCP4 device at `ip`:`port`. */
export function proxyV1Header(ip: string, port: number): Buffer {
  return Buffer.from(`PROXY TCP4 ${ip} 10.0.0.10 ${port} 1883\r\n`, 'latin1');
}

/** A PROXY protocol v2 (binary) header stating a TCP4 device at `ip`:`port`. */
export function proxyV2Header(ip: string, port: number): Buffer {
  const header = Buffer.alloc(28);
  Buffer.from('0d0a0d0a000d0a515549540a', 'hex').copy(header, 0);
  header[12] = 0x21; // version 2, PROXY
  header[13] = 0x11; // AF_INET, STREAM
  header.writeUInt16BE(12, 14);
  Buffer.from(ip.split('.').map(Number)).copy(header, 16);
  Buffer.from([10, 0, 0, 10]).copy(header, 20);
  header.writeUInt16BE(port, 24);
  header.writeUInt16BE(8883, 26);
  return header;
}

export interface ListenerTransport {
  readonly tls: boolean;
  /** A load balancer in front, speaking this PROXY protocol version; absent = devices connect directly. */
  readonly proxy?: 'v1' | 'v2';
}

/** An open connection to a listener and the device address the edge must record for it. */
export interface OpenedTransport {
  readonly socket: Socket;
  readonly source: { readonly ip: string; readonly port: number };
}

/** An edge of its own world with one listener of the given kind, and how a device reaches it. */
export interface ListenerUnderTest {
  readonly world: EdgeTestWorld;
  readonly edge: RunningIngest;
  readonly listener: 'mqtt' | 'mqtts';
  readonly connectTimeoutMs: number;
  /** Connects as a device would (through the balancer's header, through the TLS handshake); nothing of MQTT sent yet. */
  open(): Promise<OpenedTransport>;
  close(): Promise<void>;
}

export async function startListenerUnderTest(
  transport: ListenerTransport,
  devices: { clientIds: readonly string[]; password: string },
): Promise<ListenerUnderTest> {
  const world = new EdgeTestWorld();
  let certificate: TestCertificate | undefined;
  try {
    await world.setUp();
    await world.addDevices(devices.clientIds, devices.password, { publish: ['devices/%c/#'], subscribe: [] });
    if (transport.tls) certificate = selfSignedCertificate();
    const connectTimeoutMs = 1000;
    const edge = await world.startEdge({
      SENTINEL_MQTT_CONNECT_TIMEOUT_MS: String(connectTimeoutMs),
      SENTINEL_INGEST_PROXY_PROTOCOL: transport.proxy ?? 'off',
      ...(certificate
        ? {
            SENTINEL_INGEST_TLS_CERT: certificate.cert,
            SENTINEL_INGEST_TLS_KEY: certificate.key,
            SENTINEL_INGEST_PLAIN_TCP: 'false',
          }
        : {}),
    });
    const listener = certificate ? 'mqtts' : 'mqtt';
    const port = listenerPort(edge, listener);
    let opened = 0;
    return {
      world,
      edge,
      listener,
      connectTimeoutMs,
      async open() {
        opened += 1;
        const raw = createConnection({ host: '127.0.0.1', port });
        await once(raw, 'connect');
        let source = { ip: raw.localAddress ?? '', port: raw.localPort ?? 0 };
        if (transport.proxy) {
          // Each connection from a device address of its own (documentation ranges), so per-IP limits stay out of the way.
          source = { ip: `198.51.100.${(opened % 250) + 1}`, port: 40_000 + opened };
          raw.write((transport.proxy === 'v1' ? proxyV1Header : proxyV2Header)(source.ip, source.port));
        }
        if (!certificate) return { socket: raw, source };
        const secure = tlsConnect({ socket: raw, ca: certificate.ca, host: '127.0.0.1' });
        await once(secure, 'secureConnect');
        return { socket: secure, source };
      },
      async close() {
        certificate?.remove();
        await world.tearDown();
      },
    };
  } catch (error) {
    certificate?.remove();
    await world.tearDown().catch(() => undefined);
    throw error;
  }
}
