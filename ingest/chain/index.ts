import type { InboundContext } from './context.js';
import { act, countInbound, emit, sessionState } from './inbound.js';
import { rateLimit } from './rate-limit.js';
import type { Step } from './step.js';

export type { InboundContext } from './context.js';
export type { AckAndDrop, ConnectionPort, DeviceAccess, QueuedPacket, RestoredSession } from './port.js';
export { subackFailure } from './port.js';
export { type FlowHost, pauseUntil, proceed, runFlow, type Step, type StepResult, stop } from './step.js';

/**
 * Every inbound packet of a connection, in arrival order, through these steps. Adding a check is a
 * step of its own, its test, and a line here. CONNECT, PUBLISH, SUBSCRIBE and UNSUBSCRIBE go on
 * to their handlers (ingest/handlers/) from `act`.
 */
export const inboundChain: readonly Step<InboundContext>[] = [
  countInbound,
  rateLimit,
  sessionState,
  emit,
  act,
];
