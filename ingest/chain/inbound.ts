import { packetTypeOf } from '../packet-events.js';
import type { InboundContext } from './context.js';
import { proceed, type Step, stop } from './step.js';

/** Counts the packet in, once, however often later steps pause and take it up again. */
export const countInbound: Step<InboundContext> = {
  name: 'count',
  run({ port, item }) {
    if (!item.admitted)
      port.metrics.packet(packetTypeOf[item.packet.cmd], 'inbound', item.frame.bytes.length);
    return proceed;
  },
};

/** The MQTT 3.1.1 state machine (ingest/protocol/session-state.ts) decides what the packet means. */
export const sessionState: Step<InboundContext> = {
  name: 'session',
  run(context) {
    context.actions = context.port.session.receive(context.item.packet, context.now);
    context.port.deadlineChanged();
    return proceed;
  },
};

/**
 * Records the packets whose outcome is known now. CONNECT, PUBLISH and SUBSCRIBE are recorded by
 * their handlers, where their outcome is known (the auth result, Kafka's acknowledgement, the ACL).
 */
export const emit: Step<InboundContext> = {
  name: 'emit',
  run({ port, item, now }) {
    const { cmd } = item.packet;
    if (cmd !== 'connect' && cmd !== 'publish' && cmd !== 'subscribe')
      port.record(port.eventOf(item.packet, item.frame.bytes.length, now));
    return proceed;
  },
};

/** Carries out the session's decision: answers, and the handler of the packet's type. */
export const act: Step<InboundContext> = {
  name: 'act',
  run({ port, item, actions, dropped }) {
    port.apply(actions, item.frame, dropped);
    return stop;
  },
};
