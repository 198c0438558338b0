import { filterCoveredBy, topicMatchesFilter } from '../../lib/mqtt/topic-filter.js';
import type { JsonScanLimits } from '../inspect/json-scan.js';
import { jsonScanLimits, payloadIsUtf8, payloadJson } from '../inspect/payload-json.js';
import { expandTemplate, payloadRuleFor } from '../inspect/topics.js';
import {
  excerpt,
  type Finding,
  type FindingAction,
  type FindingClass,
  type PacketEvent,
  type Severity,
} from '../model.js';
import { type Policy, ruleDisposition } from '../policy/policy.js';
import type { Step } from '../step.js';

/**
 * Protocol and semantic validation of one event: malformed packets and auth results recorded by the
 * edge, topic naming, the device-to-topic binding (a device publishes and subscribes only inside
 * its own namespace) and the payload format and size expected on the topic.
 */
interface BuiltInRule {
  readonly id: string;
  readonly class: FindingClass;
  readonly severity: Severity;
  readonly defaultAction: FindingAction;
}

export const VALIDATION_RULES = {
  malformed: { id: 'VAL-MALFORMED', class: 'protocol', severity: 'high', defaultAction: 'block' },
  authDenied: { id: 'VAL-AUTH-DENIED', class: 'auth', severity: 'medium', defaultAction: 'block' },
  authError: { id: 'VAL-AUTH-ERROR', class: 'auth', severity: 'medium', defaultAction: 'block' },
  topicName: { id: 'VAL-TOPIC-NAME', class: 'topic-policy', severity: 'medium', defaultAction: 'block' },
  clientIdChars: {
    id: 'VAL-CLIENTID-CHARS',
    class: 'topic-binding',
    severity: 'high',
    defaultAction: 'block',
  },
  publishBinding: {
    id: 'VAL-PUBLISH-BINDING',
    class: 'topic-binding',
    severity: 'high',
    defaultAction: 'block',
  },
  subscribeBinding: {
    id: 'VAL-SUBSCRIBE-BINDING',
    class: 'topic-binding',
    severity: 'high',
    defaultAction: 'block',
  },
  payloadFormat: {
    id: 'VAL-PAYLOAD-FORMAT',
    class: 'payload-policy',
    severity: 'medium',
    defaultAction: 'block',
  },
  payloadSize: {
    id: 'VAL-PAYLOAD-SIZE',
    class: 'payload-policy',
    severity: 'medium',
    defaultAction: 'quarantine',
  },
} as const satisfies Record<string, BuiltInRule>;

export function builtInFinding(
  policy: Policy,
  rule: BuiltInRule,
  stage: Finding['stage'],
  evidence: string,
  location: string,
): Finding | null {
  const disposition = ruleDisposition(policy, rule.id, rule.defaultAction);
  if (!disposition.enabled) return null;
  return {
    ruleId: rule.id,
    class: rule.class,
    stage,
    severity: rule.severity,
    action: disposition.action,
    evidence: excerpt(evidence),
    location,
    shadow: disposition.shadow,
  };
}

/** Why a topic name breaks the naming policy, or null. */
export function topicNameProblem(topic: string, policy: Policy, levelPattern: RegExp): string | null {
  const v = policy.validation;
  if (topic === '') return 'empty topic'; // MQTT-4.7.3-1
  if (topic.length > v.maxTopicLength) return `longer than ${v.maxTopicLength} characters`;
  if (topic.includes('+') || topic.includes('#')) return 'wildcard in a topic name'; // MQTT-3.3.2-2
  if (topic.startsWith('$')) return "'$' topics are reserved for the server";
  const levels = topic.split('/');
  if (levels.length > v.maxTopicLevels) return `more than ${v.maxTopicLevels} levels`;
  const bad = levels.find((level) => !levelPattern.test(level));
  if (bad !== undefined)
    return bad === '' ? 'empty topic level' : `level '${bad}' has characters outside the policy`;
  return null;
}

function payloadFormatProblem(
  payload: Buffer,
  formats: readonly string[],
  jsonLimits: JsonScanLimits,
): string | null {
  if (formats.includes('binary')) return null;
  if (!payloadIsUtf8(payload)) return `not UTF-8 text; allowed: ${formats.join(', ')}`;
  if (formats.includes('text')) return null;
  return payloadJson(payload, jsonLimits) === null ? 'not JSON; allowed: json' : null;
}

export function createValidateStep(options: { readonly policy: Policy }): Step {
  const { policy } = options;
  const v = policy.validation;
  const levelPattern = new RegExp(v.topicLevelPattern, 'u');
  // The limits the patterns step scans with, so the payload is scanned once for both.
  const jsonLimits = jsonScanLimits(policy);
  const r = VALIDATION_RULES;

  return {
    name: 'validate',
    process(event: PacketEvent) {
      const found: Array<Finding | null> = [];
      const add = (rule: BuiltInRule, evidence: string, location: string) => {
        found.push(builtInFinding(policy, rule, 'validate', evidence, location));
      };
      switch (event.packetType) {
        case 'MALFORMED':
          add(r.malformed, event.malformedReason ?? 'malformed packet', 'packet');
          break;
        case 'CONNECT':
          if (event.authResult === 'denied')
            add(r.authDenied, `authentication denied for ${event.username ?? '(no username)'}`, 'connect');
          else if (event.authResult === 'error')
            add(r.authError, 'authentication could not be decided (fail closed)', 'connect');
          if (expandTemplate('{clientId}', event.clientId) === null)
            add(r.clientIdChars, event.clientId || '(empty)', 'clientId');
          break;
        case 'PUBLISH': {
          const topic = event.topic ?? '';
          const problem = topicNameProblem(topic, policy, levelPattern);
          if (problem) add(r.topicName, `${problem}: ${topic}`, 'topic');
          const own = v.publishTemplates.map((t) => expandTemplate(t, event.clientId));
          if (!own.some((filter) => filter !== null && topicMatchesFilter(topic, filter))) {
            add(r.publishBinding, `${event.clientId} published to ${topic}`, 'topic');
          }
          if (event.payload !== null && event.payload.length > 0) {
            const payloadRule = payloadRuleFor(policy, topic);
            if (event.payload.length > payloadRule.maxBytes) {
              add(
                r.payloadSize,
                `${event.payload.length} bytes > ${payloadRule.maxBytes} allowed on this topic`,
                'payload',
              );
            }
            const formatProblem = payloadFormatProblem(event.payload, payloadRule.formats, jsonLimits);
            if (formatProblem) add(r.payloadFormat, formatProblem, 'payload');
          }
          break;
        }
        case 'SUBSCRIBE': {
          const own = v.subscribeTemplates.map((t) => expandTemplate(t, event.clientId));
          event.subscriptions?.forEach((subscription, i) => {
            if (!own.some((allowed) => allowed !== null && filterCoveredBy(subscription.topic, allowed))) {
              add(
                r.subscribeBinding,
                `${event.clientId} subscribed to ${subscription.topic}`,
                `subscriptions[${i}].topic`,
              );
            }
          });
          break;
        }
        default:
          break;
      }
      return found.filter((f): f is Finding => f !== null);
    },
  };
}
