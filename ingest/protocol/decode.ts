import mqttPacket, { type Packet } from 'mqtt-packet';
import type { Frame } from './frame.js';
import { checkLayout } from './layout.js';
import { type Refusal, refuse } from './refusals.js';

export type DecodeResult = { readonly packet: Packet } | { readonly refusal: Refusal };

/**
 * Turns complete frames into mqtt-packet objects (protocol level 4), after the byte-level checks
 * mqtt-packet does not make. One decoder per connection: mqtt-packet keeps the CONNECT it parsed
 * as its settings, and that CONNECT is always level 4 here because layout refuses any other.
 */
export class PacketDecoder {
  readonly #parser = mqttPacket.parser({ protocolVersion: 4 });
  readonly #refuseControl: boolean;
  #decoded: Packet | undefined;
  #error: Error | undefined;

  constructor(options: { readonly refuseControlCharacters: boolean }) {
    this.#refuseControl = options.refuseControlCharacters;
    this.#parser.on('packet', (packet: Packet) => {
      this.#decoded = packet;
    });
    // Without a listener EventEmitter would throw the error out of parse().
    this.#parser.on('error', (error: unknown) => {
      this.#error = error instanceof Error ? error : new Error(String(error));
    });
  }

  decode(frame: Frame): DecodeResult {
    const layoutRefusal = checkLayout(frame, this.#refuseControl);
    if (layoutRefusal !== undefined) return { refusal: layoutRefusal };
    this.#decoded = undefined;
    this.#error = undefined;
    this.#parser.parse(frame.bytes);
    // Set by the listeners during parse(), which the compiler's flow analysis cannot see.
    const decoded = this.#decoded as Packet | undefined;
    const error = this.#error as Error | undefined;
    this.#decoded = undefined;
    this.#error = undefined;
    if (error !== undefined || decoded === undefined) {
      return {
        refusal: refuse('SNT_MQTT_DECODE_FAILED', `mqtt-packet: ${error?.message ?? 'no packet decoded'}`),
      };
    }
    return { packet: decoded };
  }
}
