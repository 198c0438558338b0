import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import WebSocket, { type RawData } from 'ws';

/**
 * The byte stream under one origin session: MQTT over WebSocket (`ws://`, `wss://`: subprotocol
 * `mqtt`, binary frames, what the customer's L7 hop sees) or over TCP (`mqtt://`, `mqtts://`: for a
 * session whose traffic need not cross that hop and whose origin's WebSocket listener is the
 * bottleneck, see docs/bridge.md).
 */
export interface LinkTransport {
  readonly isOpen: boolean;
  send(bytes: Buffer): void;
  /** Closes after what was sent (WebSocket close 1000, TCP FIN); resolves when closed or after 1 s. */
  close(): Promise<void>;
  terminate(): void;
}

export interface TransportEvents {
  readonly onOpen: () => void;
  readonly onData: (chunk: Buffer) => void;
  readonly onError: (err: Error) => void;
  readonly onClose: () => void;
}

export interface TransportOptions {
  readonly url: string;
  readonly ca?: Buffer;
  readonly connectTimeoutMs: number;
}

export function isOriginUrl(url: string): boolean {
  return /^(wss?|mqtts?):\/\/\S+$/.test(url);
}

export function openTransport(options: TransportOptions, events: TransportEvents): LinkTransport {
  const url = new URL(options.url);
  return url.protocol === 'ws:' || url.protocol === 'wss:'
    ? openWebSocket(options, events)
    : openTcp(url, options, events);
}

function openWebSocket(options: TransportOptions, events: TransportEvents): LinkTransport {
  const socket = new WebSocket(options.url, 'mqtt', {
    perMessageDeflate: false,
    handshakeTimeout: options.connectTimeoutMs,
    ...(options.ca ? { ca: options.ca } : {}),
  });
  socket.binaryType = 'nodebuffer';
  socket.on('open', events.onOpen);
  socket.on('message', (data: RawData) => {
    if (Buffer.isBuffer(data)) events.onData(data);
    else if (Array.isArray(data)) for (const chunk of data) events.onData(chunk);
    else events.onData(Buffer.from(data));
  });
  socket.on('error', events.onError);
  socket.on('close', events.onClose);
  return {
    get isOpen() {
      return socket.readyState === WebSocket.OPEN;
    },
    send: (bytes) => socket.send(bytes, { binary: true }),
    close: () =>
      new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.close(1000);
        setTimeout(() => {
          socket.terminate();
          resolve();
        }, 1000).unref();
      }),
    terminate: () => socket.terminate(),
  };
}

function openTcp(url: URL, options: TransportOptions, events: TransportEvents): LinkTransport {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const secure = url.protocol === 'mqtts:';
  const port = Number(url.port || (secure ? 8883 : 1883));
  const socket: Socket = secure
    ? connectTls({ host, port, servername: host, ...(options.ca ? { ca: options.ca } : {}) })
    : connectTcp({ host, port });
  socket.setNoDelay(true);
  let open = false;
  const handshake = setTimeout(() => socket.destroy(new Error('connect timeout')), options.connectTimeoutMs);
  socket.once(secure ? 'secureConnect' : 'connect', () => {
    clearTimeout(handshake);
    open = true;
    events.onOpen();
  });
  socket.on('data', events.onData);
  socket.on('error', events.onError);
  socket.on('close', () => {
    clearTimeout(handshake);
    open = false;
    events.onClose();
  });
  return {
    get isOpen() {
      return open && !socket.destroyed;
    },
    send: (bytes) => {
      socket.write(bytes);
    },
    close: () =>
      new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.end();
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 1000).unref();
      }),
    terminate: () => socket.destroy(),
  };
}
