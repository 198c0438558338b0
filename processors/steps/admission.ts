import { topicMatchesFilter } from '../../lib/mqtt/topic-filter.js';
import { excerpt, type Finding, type PacketEvent, type Severity } from '../model.js';
import type { Step } from '../step.js';

/**
 * The first step: what the edge refused stays refused, and every PUBLISH is checked again against
 * the topic ACL its session was granted (recorded on the session's accepted CONNECT, which the
 * partitioning by client id puts before the session's packets).
 *
 * These findings are not detection and not policy: they always block, in shadow mode too, and no
 * rule override turns them off. An event the edge refused, or a PUBLISH outside its session's ACL,
 * can therefore never become an approved message.
 */
export const ADMISSION_RULES = {
  /** The edge refused the packet (ACL, rate limit, auth, protocol). */
  edgeRefused: 'EDGE-REFUSED',
  /** A PUBLISH recorded without its payload: nothing can be delivered for it. */
  payloadWithheld: 'EDGE-PAYLOAD-WITHHELD',
  /** The topic is outside the publish filters of the session's ACL. */
  aclPublish: 'ACL-PUBLISH-DENIED',
  /** No accepted CONNECT of this client is known, so no ACL grants it anything (fail closed). */
  aclNoSession: 'ACL-NO-SESSION',
} as const;

export interface AdmissionState {
  /** Publish filters of the client's latest accepted session; null before one is known. */
  publish: string[] | null;
}

const refusalSeverity: Readonly<Record<string, Severity>> = {
  acl_denied: 'high',
  protocol: 'high',
  auth_denied: 'medium',
  rate_limited: 'low',
};

function blocking(ruleId: string, severity: Severity, evidence: string, location: string): Finding {
  return {
    ruleId,
    class:
      ruleId === ADMISSION_RULES.aclPublish || ruleId === ADMISSION_RULES.aclNoSession
        ? 'acl'
        : 'edge-refusal',
    stage: 'admission',
    severity,
    action: 'block',
    evidence: excerpt(evidence),
    location,
    shadow: false,
  };
}

/** True for the CONNECT that opens a session: authentication allowed it and the edge refused nothing. */
function opensSession(event: PacketEvent): boolean {
  return event.packetType === 'CONNECT' && event.authResult === 'allowed' && event.refusal === null;
}

export function createAdmissionStep(): Step<AdmissionState> {
  return {
    name: 'admission',
    state: { device: () => ({ publish: null }) },
    process(event, { device }) {
      // A refused CONNECT (wrong password, rate limit) leaves the session in force untouched: it
      // must not let anyone who knows a client id change what that device may publish.
      if (opensSession(event)) device.publish = event.acl ? [...event.acl.publish] : null;
      if (event.refusal !== null) {
        return [
          blocking(
            ADMISSION_RULES.edgeRefused,
            refusalSeverity[event.refusal] ?? 'medium',
            `${event.refusal}: ${event.edgeAction ?? event.malformedReason ?? 'refused at the edge'}`,
            'edge',
          ),
        ];
      }
      if (event.packetType !== 'PUBLISH') return [];
      const found: Finding[] = [];
      if (event.payload === null) {
        found.push(
          blocking(
            ADMISSION_RULES.payloadWithheld,
            'high',
            'PUBLISH recorded without its payload',
            'payload',
          ),
        );
      }
      const topic = event.topic ?? '';
      if (device.publish === null) {
        found.push(
          blocking(
            ADMISSION_RULES.aclNoSession,
            'high',
            `no accepted CONNECT of ${event.clientId} is known`,
            'topic',
          ),
        );
      } else if (!device.publish.some((filter) => topicMatchesFilter(topic, filter))) {
        found.push(
          blocking(
            ADMISSION_RULES.aclPublish,
            'high',
            `${topic} is outside the session's publish ACL [${device.publish.join(', ')}]`,
            'topic',
          ),
        );
      }
      return found;
    },
  };
}
