import type { Packet } from 'mqtt-packet';
import { decodeFrame } from './decode.js';
import { type Frame, FrameReader } from './frame.js';
import type { ProtocolPolicy } from './policy.js';
import type { Refusal } from './refusals.js';
import { validatePacket } from './validate.js';

export interface InboundPacket {
  readonly packet: Packet;
  /** The bytes as received, for the packet event (size, raw payload). */
  readonly frame: Frame;
}

export interface InboundReadResult {
  /** Valid packets in arrival order; those before a refusal are to be handled before closing. */
  readonly packets: InboundPacket[];
  readonly refusal?: Refusal;
  /** The frame that was refused, when the refusal came after framing (for the malformed event). */
  readonly refusedFrame?: Frame;
}

/** Bytes from a client in, valid packets out: frame, byte-level checks, mqtt-packet, packet rules. */
export class InboundPacketReader {
  readonly #frames: FrameReader;
  readonly #policy: ProtocolPolicy;
  #refusal: Refusal | undefined;

  constructor(policy: ProtocolPolicy) {
    this.#policy = policy;
    this.#frames = new FrameReader({ maxPacketBytes: policy.maxPacketBytes });
  }

  get bufferedBytes(): number {
    return this.#frames.bufferedBytes;
  }

  push(chunk: Buffer): InboundReadResult {
    const packets: InboundPacket[] = [];
    if (this.#refusal !== undefined) return { packets, refusal: this.#refusal };
    const read = this.#frames.push(chunk);
    for (const frame of read.frames) {
      const decoded = decodeFrame(frame, this.#policy);
      const refusal = 'refusal' in decoded ? decoded.refusal : validatePacket(decoded.packet, this.#policy);
      if (refusal !== undefined) {
        this.#refusal = refusal;
        this.#frames.stop(refusal);
        return { packets, refusal, refusedFrame: frame };
      }
      if ('packet' in decoded) packets.push({ packet: decoded.packet, frame });
    }
    if (read.refusal !== undefined) {
      this.#refusal = read.refusal;
      return { packets, refusal: read.refusal };
    }
    return { packets };
  }
}
