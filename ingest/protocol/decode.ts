import mqttPacket, { type Packet, type Parser } from 'mqtt-packet';
import type { Frame } from './frame.js';
import { checkLayout } from './layout.js';
import { type Refusal, refuse } from './refusals.js';

export type DecodeResult = { readonly packet: Packet } | { readonly refusal: Refusal };

/** What mqtt-packet's parser reads its protocol level from; its type declarations leave it out. */
interface ParserSettings {
  settings: object;
}

const levelFour = Object.freeze({ protocolVersion: 4 });

/**
 * mqtt-packet over whole frames. One of these serves every connection of the process. A frame is one whole packet, so
 * each parse() starts and ends between packets and nothing of one connection is left in the parser
 * for the next. A parser per connection cost about 1.3 KB of heap per idle session (parser, its
 * stream-based buffer list, two packets) and held the connection's CONNECT, password included.
 */
export class PacketDecoder {
  #parser: Parser = this.#newParser();
  #decoded: Packet | undefined;
  #error: Error | undefined;

  #newParser(): Parser {
    const parser = mqttPacket.parser(levelFour);
    parser.on('packet', (packet: Packet) => {
      this.#decoded = packet;
    });
    // Without a listener EventEmitter would throw the error out of parse().
    parser.on('error', (error: unknown) => {
      this.#error = error instanceof Error ? error : new Error(String(error));
    });
    return parser;
  }

  decode(frame: Frame): DecodeResult {
    this.#decoded = undefined;
    this.#error = undefined;
    const leftBytes = this.#parser.parse(frame.bytes);
    // mqtt-packet adopts every CONNECT it parses as its settings; layout lets only level 4 through,
    // and the parser must not keep one device's CONNECT for the next.
    (this.#parser as unknown as ParserSettings).settings = levelFour;
    // Set by the listeners during parse(), which the compiler's flow analysis cannot see.
    const decoded = this.#decoded as Packet | undefined;
    const error = this.#error as Error | undefined;
    this.#decoded = undefined;
    this.#error = undefined;
    if (error !== undefined || decoded === undefined || leftBytes !== 0) {
      // A frame it could not take whole may have left bytes or state behind: the next frame, of
      // whichever connection, gets a parser of its own.
      this.#parser = this.#newParser();
      return {
        refusal: refuse('SNT_MQTT_DECODE_FAILED', `mqtt-packet: ${error?.message ?? 'no packet decoded'}`),
      };
    }
    return { packet: decoded };
  }
}

const sharedDecoder = new PacketDecoder();

/**
 * Turns a complete frame into an mqtt-packet object (protocol level 4), after the byte-level checks
 * mqtt-packet does not make.
 */
export function decodeFrame(
  frame: Frame,
  options: { readonly refuseControlCharacters: boolean },
): DecodeResult {
  const layoutRefusal = checkLayout(frame, options.refuseControlCharacters);
  if (layoutRefusal !== undefined) return { refusal: layoutRefusal };
  return sharedDecoder.decode(frame);
}
