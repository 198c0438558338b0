import { topicMatchesFilter } from '../../lib/mqtt/topic-filter.js';
import type { PayloadRule, Policy } from '../policy/policy.js';

/** A template such as 'devices/{clientId}/#' for one client; null when the id would change the template's shape. */
export function expandTemplate(template: string, clientId: string): string | null {
  // An id with '/', '+' or '#' would widen the namespace it is substituted into (Mosquitto CVE-2017-7650).
  if (clientId === '' || /[/+#]/.test(clientId)) return null;
  return template.replaceAll('{clientId}', clientId);
}

export function payloadRuleFor(policy: Policy, topic: string): Omit<PayloadRule, 'topic'> {
  for (const rule of policy.validation.payloadRules) if (topicMatchesFilter(topic, rule.topic)) return rule;
  return policy.validation.defaultPayloadRule;
}
