import { createConnection, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';

/** Sends raw bytes and resolves when the peer closes the socket, with everything it answered. */
export function sendRaw(bytes: Buffer, port: number): Promise<{ answered: Buffer; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve({ answered: Buffer.concat(chunks), socket }));
    socket.once('connect', () => socket.write(bytes));
    setTimeout(
      () =>
        reject(
          new Error(`the peer did not close the connection after ${bytes.toString('hex').slice(0, 200)}`),
        ),
      15_000,
    ).unref();
  });
}

/** A CONNECT (MQTT 3.1.1) with the client id as user name. */
export function connectBytes(
  clientId: string,
  password: string,
  extra: Partial<mqttPacket.IConnectPacket> = {},
): Buffer {
  return mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    keepalive: 30,
    clientId,
    username: clientId,
    password: Buffer.from(password),
    ...extra,
  });
}
