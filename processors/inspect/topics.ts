import type { PayloadRule, Policy } from '../policy/policy.js';

/** MQTT topic-name matching against a filter (MQTT 3.1.1 §4.7): '+' one level, '#' this level and all below. */
export function topicMatchesFilter(topic: string, filter: string): boolean {
  const t = topic.split('/');
  const f = filter.split('/');
  for (let i = 0; i < f.length; i += 1) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return t.length === f.length;
}

/**
 * Whether every topic a filter can match is also matched by `allowed` (itself a filter), i.e. a
 * subscription stays inside the namespace. 'devices/d1/#' is within 'devices/d1/#'; '#' is not.
 */
export function filterWithin(filter: string, allowed: string): boolean {
  const f = filter.split('/');
  const a = allowed.split('/');
  for (let i = 0; i < a.length; i += 1) {
    const level = a[i];
    if (level === '#') return true;
    const own = f[i];
    if (own === undefined) return false;
    if (own === '#') return false;
    if (level === '+') continue;
    if (own === '+' || own !== level) return false;
  }
  return f.length === a.length;
}

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
