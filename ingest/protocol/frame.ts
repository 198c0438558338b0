import { checkFixedHeaderByte, PacketType, packetTypeName } from './fixed-header.js';
import { protocolMaxPacketBytes } from './policy.js';
import { type Refusal, refuse } from './refusals.js';

/** One complete control packet as received: fixed header and body. */
export interface Frame {
  /** Control packet type, 1..14 (Table 2.1). */
  readonly type: number;
  /** The low nibble of byte 0. */
  readonly flags: number;
  /** Bytes of fixed header: 1 type byte plus 1..4 Remaining Length bytes. */
  readonly headerLength: number;
  readonly remainingLength: number;
  /** The whole packet. A view into the received chunk when the packet arrived in one piece. */
  readonly bytes: Buffer;
}

export interface FrameReadResult {
  /** Complete packets, in order; those before a refusal are still valid and should be handled. */
  readonly frames: Frame[];
  /** Set once the stream broke a rule; the connection must close and the reader accepts nothing more. */
  readonly refusal?: Refusal;
}

export interface FrameReaderOptions {
  /** Largest whole packet accepted, fixed header included. */
  readonly maxPacketBytes: number;
}

const maxHeaderBytes = 5;
const needMoreBytes = 0;
const refused = -1;

/**
 * Incremental reader of the fixed header (§2.2). It decides every rule that byte 0 and the
 * Remaining Length settle (reserved and server-only types, Table 2.2 flags, PUBLISH QoS/DUP,
 * CONNECT first and once, length encoding, maximum size) before it keeps a single body byte,
 * so an attacker's declared length never causes an allocation (Mosquitto CVE-2023-0809).
 * It holds at most one packet of `maxPacketBytes`, and only as much of it as has arrived.
 */
export class FrameReader {
  readonly #maxPacketBytes: number;
  #refusal: Refusal | undefined;
  #connectSeen = false;

  // Fixed header split across chunks.
  readonly #header = Buffer.alloc(maxHeaderBytes);
  #headerFill = 0;

  // Packet whose body is split across chunks: owned copies, so a large socket chunk is not pinned.
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #pendingTotal = 0;

  // The last decoded fixed header.
  #type = 0;
  #flags = 0;
  #headerLength = 0;
  #remainingLength = 0;

  constructor(options: FrameReaderOptions) {
    if (!Number.isInteger(options.maxPacketBytes) || options.maxPacketBytes < 2) {
      throw new RangeError(`maxPacketBytes must be a whole number >= 2, got ${options.maxPacketBytes}`);
    }
    this.#maxPacketBytes = Math.min(options.maxPacketBytes, protocolMaxPacketBytes);
  }

  /** Bytes held for an incomplete packet; never more than maxPacketBytes. */
  get bufferedBytes(): number {
    return this.#headerFill + this.#pendingBytes;
  }

  get refusal(): Refusal | undefined {
    return this.#refusal;
  }

  push(chunk: Buffer): FrameReadResult {
    const frames: Frame[] = [];
    if (this.#refusal !== undefined) return { frames, refusal: this.#refusal };
    const end = chunk.length;
    let offset = 0;
    while (offset < end) {
      if (this.#pendingTotal > 0) {
        const take = Math.min(this.#pendingTotal - this.#pendingBytes, end - offset);
        this.#pending.push(Buffer.from(chunk.subarray(offset, offset + take)));
        this.#pendingBytes += take;
        offset += take;
        if (this.#pendingBytes === this.#pendingTotal) {
          frames.push(this.#frame(Buffer.concat(this.#pending, this.#pendingTotal)));
          this.#pending = [];
          this.#pendingBytes = 0;
          this.#pendingTotal = 0;
        }
        continue;
      }

      if (this.#headerFill > 0) {
        const take = Math.min(maxHeaderBytes - this.#headerFill, end - offset);
        chunk.copy(this.#header, this.#headerFill, offset, offset + take);
        const headerLength = this.#decodeHeader(this.#header, 0, this.#headerFill + take);
        if (headerLength === refused) return this.#fail(frames);
        if (headerLength === needMoreBytes) {
          // Five bytes always settle a header, so needing more means the chunk is used up.
          this.#headerFill += take;
          offset += take;
          continue;
        }
        offset += headerLength - this.#headerFill;
        this.#headerFill = 0;
        const header = Buffer.from(this.#header.subarray(0, headerLength));
        if (this.#remainingLength === 0) {
          frames.push(this.#frame(header));
        } else {
          this.#pending = [header];
          this.#pendingBytes = headerLength;
          this.#pendingTotal = headerLength + this.#remainingLength;
        }
        continue;
      }

      const headerLength = this.#decodeHeader(chunk, offset, end);
      if (headerLength === refused) return this.#fail(frames);
      if (headerLength === needMoreBytes) {
        chunk.copy(this.#header, 0, offset, end);
        this.#headerFill = end - offset;
        break;
      }
      const total = headerLength + this.#remainingLength;
      if (end - offset >= total) {
        frames.push(this.#frame(chunk.subarray(offset, offset + total)));
        offset += total;
        continue;
      }
      this.#pending = [Buffer.from(chunk.subarray(offset, end))];
      this.#pendingBytes = end - offset;
      this.#pendingTotal = total;
      break;
    }
    return { frames };
  }

  /** A later stage refused a frame: drop what is buffered and accept nothing more. */
  stop(refusal: Refusal): void {
    this.#refusal ??= refusal;
    this.#fail([]);
  }

  #frame(bytes: Buffer): Frame {
    return {
      type: this.#type,
      flags: this.#flags,
      headerLength: this.#headerLength,
      remainingLength: this.#remainingLength,
      bytes,
    };
  }

  #fail(frames: Frame[]): FrameReadResult {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#pendingTotal = 0;
    this.#headerFill = 0;
    return { frames, refusal: this.#refusal };
  }

  /**
   * Fixed header at bytes[start, end):
   *   byte 0      type (bits 7-4) | flags (bits 3-0)
   *   bytes 1..4  Remaining Length, 7 bits per byte, least significant first, bit 7 = more follows
   * Returns the header length, needMoreBytes, or refused (with #refusal set).
   */
  #decodeHeader(bytes: Buffer, start: number, end: number): number {
    if (start >= end) return needMoreBytes;
    const first = bytes[start]!;
    const byteRefusal = checkFixedHeaderByte(first);
    if (byteRefusal !== undefined) return this.#refuse(byteRefusal);
    const type = first >> 4;
    if (!this.#connectSeen && type !== PacketType.CONNECT) {
      // MQTT-3.1.0-1: refused from byte 0, before anything of the packet is kept.
      return this.#refuse(
        refuse('SNT_MQTT_FIRST_PACKET_NOT_CONNECT', `first packet is ${packetTypeName(type)}, not CONNECT`),
      );
    }
    if (this.#connectSeen && type === PacketType.CONNECT) {
      return this.#refuse(refuse('SNT_MQTT_SECOND_CONNECT', 'a second CONNECT on the same connection'));
    }
    let value = 0;
    let multiplier = 1;
    for (let index = 1; index < maxHeaderBytes; index++) {
      if (start + index >= end) return needMoreBytes;
      const byte = bytes[start + index]!;
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) {
        if (index > 1 && byte === 0) {
          return this.#refuse(
            refuse(
              'SNT_MQTT_REMAINING_LENGTH_NOT_MINIMAL',
              `Remaining Length ${value} encoded in ${index} bytes instead of the shortest form`,
            ),
          );
        }
        const headerLength = index + 1;
        if (headerLength + value > this.#maxPacketBytes) {
          return this.#refuse(
            refuse(
              'SNT_MQTT_PACKET_TOO_LARGE',
              `${packetTypeName(type)} declares ${headerLength + value} bytes, the limit is ${this.#maxPacketBytes}`,
            ),
          );
        }
        this.#type = type;
        this.#flags = first & 0x0f;
        this.#headerLength = headerLength;
        this.#remainingLength = value;
        if (type === PacketType.CONNECT) this.#connectSeen = true;
        return headerLength;
      }
      multiplier *= 0x80;
    }
    return this.#refuse(
      refuse('SNT_MQTT_REMAINING_LENGTH_MALFORMED', 'Remaining Length continues past its 4th byte'),
    );
  }

  #refuse(refusal: Refusal): number {
    this.#refusal = refusal;
    return refused;
  }
}
