import type { IConnectPacket } from 'mqtt-packet';
import type { PacketEvent } from '../../schemas/types.generated.js';
import type { AuthDecision } from '../auth/index.js';
import {
  type ConnectionPort,
  type FlowHost,
  pauseUntil,
  proceed,
  type RestoredSession,
  runFlow,
  type Step,
  stop,
} from '../chain/index.js';
import { markRefused } from '../packet-events.js';

/** A CONNECT on its way from the session's "authenticate" to CONNACK. */
interface ConnectFlow {
  readonly port: ConnectionPort;
  readonly connect: IConnectPacket;
  readonly packetSize: number;
  readonly receivedAt: number;
  readonly startedAt: number;
  decision?: AuthDecision;
  /** The CONNECT's one event, once the decision says what it is. */
  event?: PacketEvent;
  recorded: boolean;
  claimed: boolean;
  restored?: RestoredSession;
}

/**
 * The device a CONNECT authenticates as: the one its client id names. A zero-length client id
 * (CleanSession 1, MQTT-3.1.3-6) names none, so it authenticates as the device whose client id is
 * its user name (with certificate identity that name must also be the certificate's CN); the
 * session then runs under an id the server assigns. Decisions stay cached, and are invalidated,
 * under that device's client id.
 */
export function deviceIdOf(connect: Pick<IConnectPacket, 'clientId' | 'username'>): string {
  return connect.clientId !== '' ? connect.clientId : (connect.username ?? '');
}

/**
 * What a CONNECT needs after its auth decision (the session claim, a Redis round trip, and the
 * CONNACK), kept free of it: a password check that would end later is refused with 0x03 while the
 * device still listens, rather than its connection closed at the CONNECT deadline.
 */
const afterDecisionMs = 1000;

/** Password, certificate or cached decision: a lookup, during which the connection waits. */
const authenticate: Step<ConnectFlow> = {
  name: 'authenticate',
  run(flow) {
    const { port, connect } = flow;
    return pauseUntil(
      port
        .authenticate({
          clientId: deviceIdOf(connect),
          username: connect.username,
          password: connect.password,
          certificateCn: port.identity.tlsClientSubject ?? undefined,
          sourceAddress: port.identity.sourceIp,
          answerWithinMs: Math.max(0, port.session.deadlineMs() - port.now() - afterDecisionMs),
        })
        .then((decision) => {
          flow.decision = decision;
        }),
    );
  },
};

/** The session goes by the CONNECT's identity (an empty client id gets one, MQTT-3.1.3-6). */
const identify: Step<ConnectFlow> = {
  name: 'identify',
  run(flow) {
    const { port, connect } = flow;
    // A CONNECT's preread phase ends with its auth decision.
    port.metrics.prereadSeconds.observe((performance.now() - flow.startedAt) / 1000);
    if (!port.open) return stop;
    port.identify({
      clientId: connect.clientId,
      username: connect.username ?? null,
      cleanSession: connect.clean !== false,
    });
    const decision = flow.decision!;
    const event = port.eventOf({ ...connect, clientId: port.clientId }, flow.packetSize, flow.receivedAt);
    event.authResult =
      decision.result === 'cache_hit' ? (decision.allow ? 'allowed' : 'denied') : decision.result;
    flow.event = event;
    return proceed;
  },
};

/** A denied CONNECT is recorded and refused with the decision's CONNACK code. */
const refuseDenied: Step<ConnectFlow> = {
  name: 'auth_decision',
  run(flow) {
    const { port } = flow;
    const decision = flow.decision!;
    if (decision.allow) return proceed;
    flow.recorded = true;
    port.record(markRefused(flow.event!, 'auth_denied', `auth_denied:${decision.reason}`));
    port.metrics.connectionsRejected.inc({
      reason: decision.connackCode === 3 ? 'auth_error' : 'auth_failed',
    });
    port.apply(port.session.connectRefused(decision.connackCode));
    return stop;
  },
};

/** The device's ACL for this session, recorded on its CONNECT event. */
const grantAccess: Step<ConnectFlow> = {
  name: 'acl',
  run(flow) {
    const decision = flow.decision as Extract<AuthDecision, { allow: true }>;
    const access = flow.port.accessOf(decision);
    flow.port.grant(access);
    flow.event!.acl = access.granted();
    return proceed;
  },
};

/**
 * Claims the client id across proxies (older connections with it are closed) and loads its session.
 * A persistent session waits for the claim: its CONNACK says whether a session was present, and
 * what it is owed comes with it. A CleanSession 1 CONNECT does not: the stored session is
 * discarded (MQTT-3.1.2-6) and session present is 0 (MQTT-3.2.2-1) whatever the claim finds, so the
 * CONNACK goes without waiting for the claim's Redis round trip (the largest wait of a cached
 * CONNECT inside the edge). Older connections are closed when the claim lands, as they are when it
 * is awaited; the claim is sent before anything the session does next, on the same Redis
 * connection, so it stays first. A claim that fails after the CONNACK ends the connection as an
 * internal error.
 */
const claimSession: Step<ConnectFlow> = {
  name: 'session_claim',
  run(flow) {
    const { port } = flow;
    flow.claimed = true;
    const claimed = port.claimSession();
    if (port.persistent)
      return pauseUntil(
        claimed.then((restored) => {
          flow.restored = restored;
        }),
      );
    flow.restored = { sessionPresent: false, subscriptions: new Map() };
    claimed.catch((error: unknown) => port.failInternally(error, 'session_claim'));
    return proceed;
  },
};

const emitConnect: Step<ConnectFlow> = {
  name: 'emit',
  run(flow) {
    flow.recorded = true;
    flow.port.record(flow.event!);
    if (flow.port.open) return proceed;
    // Closed while the session was claimed (the device left, the deadline passed): the claim is
    // given back, or the proxy would route to a connection that is gone.
    flow.port.releaseSession();
    return stop;
  },
};

const accept: Step<ConnectFlow> = {
  name: 'accept',
  run(flow) {
    flow.port.accept(flow.restored!);
    return stop;
  },
};

/** CONNECT as a flow of named steps (Aedes' connect handler); the lookups pause the connection. */
const connectFlow: readonly Step<ConnectFlow>[] = [
  authenticate,
  identify,
  refuseDenied,
  grantAccess,
  claimSession,
  emitConnect,
  accept,
];

const connectHost: FlowHost<ConnectFlow> = {
  pause: (until, flow) => flow.port.pause(until),
  fail(error, step, flow) {
    const { port, connect, packetSize, receivedAt } = flow;
    if (flow.claimed && !port.accepted) port.releaseSession();
    const decided = flow.event;
    const undecided = () => {
      const event = port.eventOf(connect, packetSize, receivedAt);
      event.authResult = 'error';
      return event;
    };
    port.failInternally(error, step, flow.recorded ? undefined : decided ? () => decided : undecided);
  },
};

/**
 * Runs the CONNECT the session asked to authenticate. Its event is recorded once its outcome is
 * known, so a failure on the way is recorded as what it is (an internal error) in the one event of
 * this CONNECT: undecided (authResult `error`) before the decision, as decided after it.
 */
export function handleConnect(port: ConnectionPort, connect: IConnectPacket, packetSize: number): void {
  const flow: ConnectFlow = {
    port,
    connect,
    packetSize,
    receivedAt: port.now(),
    startedAt: performance.now(),
    recorded: false,
    claimed: false,
  };
  runFlow(connectFlow, flow, connectHost);
}
