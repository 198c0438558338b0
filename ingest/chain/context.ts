import type { SessionAction } from '../protocol/index.js';
import type { AckAndDrop, ConnectionPort, QueuedPacket } from './port.js';

/** One inbound packet on its way through the edge's chain. */
export interface InboundContext {
  readonly port: ConnectionPort;
  readonly item: QueuedPacket;
  /** When the chain took the packet up (the edge's clock). */
  readonly now: number;
  /** Set by the rate limit: the PUBLISH is acknowledged and dropped for this limit. */
  dropped?: AckAndDrop;
  /** What the session state machine decided for the packet. */
  actions: readonly SessionAction[];
}
