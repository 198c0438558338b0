import type { RateDecision } from '../limits/index.js';
import { markRefused } from '../packet-events.js';
import type { InboundContext } from './context.js';
import { type AckAndDrop, subackFailure } from './port.js';
import { pauseUntil, proceed, type Step, stop } from './step.js';

type Refused = Extract<RateDecision, { allowed: false }>;

/**
 * The rate-limit tiers (docs/rate-limiting.md), per packet before the session sees it. A delay
 * pauses the connection and asks again; a QoS 1/2 PUBLISH acknowledged and dropped goes on through
 * the session (its identifier, duplicates and PUBREL still count); any other refusal ends the
 * packet here, recorded without its payload (a flood is not stored).
 */
export const rateLimit: Step<InboundContext> = {
  name: 'rate_limit',
  run(context) {
    const { port, item, now } = context;
    if (item.admitted) {
      // Back from waiting for a store slot: it passed the limits already.
      if (item.dropped) context.dropped = item.dropped;
      return proceed;
    }
    const { packet, frame } = item;
    const decision = port.checkRate(
      {
        ip: port.identity.sourceIp,
        clientId: port.rateKey,
        packetType: frame.type,
        bytes: frame.bytes.length,
        ...(packet.cmd === 'publish' ? { qos: packet.qos } : {}),
      },
      now,
    );
    if (decision.allowed) return proceed;
    if (decision.action === 'ack-and-drop') {
      context.dropped = decision as AckAndDrop;
      return proceed;
    }
    if (decision.action === 'delay') {
      // A delayed packet is not refused: it is recorded when it is handled.
      return pauseUntil(new Promise((resolve) => setTimeout(resolve, decision.delayMs)), 'again');
    }
    refuse(context, decision);
    return stop;
  },
};

function refuse(context: InboundContext, decision: Refused): void {
  const { port, item, now } = context;
  const { packet, frame } = item;
  // The global tier exists to protect the core: what it refuses is counted, not recorded per packet.
  if (decision.tier !== 'global') {
    const event = port.eventOf(packet, frame.bytes.length, now);
    event.payload = null;
    markRefused(event, 'rate_limited', `rate_limited:${decision.tier}:${decision.action}`);
    if (packet.cmd === 'connect') event.authResult = 'rate_limited';
    port.record(event);
  }
  switch (decision.action) {
    case 'refuse-connack':
      port.metrics.connectionsRejected.inc({ reason: 'rate_limited' });
      port.send({ cmd: 'connack', returnCode: 5, sessionPresent: false });
      port.close(`rate_limited:${decision.tier}`);
      return;
    case 'suback-failure':
      if (packet.cmd === 'subscribe') {
        port.send({
          cmd: 'suback',
          messageId: packet.messageId ?? 0,
          granted: packet.subscriptions.map(() => subackFailure),
        });
      }
      return;
    case 'disconnect':
      port.close(`rate_limited:${decision.tier}`);
      return;
    case 'drop':
    case 'delay':
    case 'ack-and-drop':
      return;
  }
}
