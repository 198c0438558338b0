import { type Refusal, refuse } from './refusals.js';

export interface TopicLimits {
  readonly maxTopicBytes: number;
  readonly maxTopicLevels: number;
}

function utf8Length(text: string, limit: number): number {
  // A UTF-16 unit never takes fewer than 1 nor more than 3 UTF-8 bytes: skip the count when it cannot matter.
  if (text.length * 3 <= limit) return text.length;
  return Buffer.byteLength(text, 'utf8');
}

function checkLimits(topic: string, what: string, limits: TopicLimits): Refusal | undefined {
  const bytes = utf8Length(topic, limits.maxTopicBytes);
  if (bytes > limits.maxTopicBytes) {
    return refuse(
      'SNT_MQTT_TOPIC_TOO_LONG',
      `${what} is ${bytes} bytes, the limit is ${limits.maxTopicBytes}`,
    );
  }
  let levels = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 0x2f) levels++;
  if (levels > limits.maxTopicLevels) {
    return refuse(
      'SNT_MQTT_TOPIC_TOO_DEEP',
      `${what} has ${levels} levels, the limit is ${limits.maxTopicLevels}`,
    );
  }
  return undefined;
}

/** A topic name, as in PUBLISH or a Will Topic. */
export function checkTopicName(topic: string, limits: TopicLimits, what = 'topic name'): Refusal | undefined {
  // MQTT-4.7.3-1: at least one character (zero-length topics crashed Mosquitto, CVE-2021-34432).
  if (topic.length === 0) return refuse('SNT_MQTT_TOPIC_EMPTY', `${what} is empty`);
  // MQTT-3.3.2-2: no wildcards in a topic name.
  if (topic.includes('+') || topic.includes('#')) {
    return refuse('SNT_MQTT_TOPIC_NAME_WILDCARD', `${what} contains a wildcard`);
  }
  return checkLimits(topic, what, limits);
}

const slash = 0x2f;
const plus = 0x2b;
const hash = 0x23;

/** A topic filter, as in SUBSCRIBE and UNSUBSCRIBE. */
export function checkTopicFilter(filter: string, limits: TopicLimits): Refusal | undefined {
  // MQTT-4.7.3-1
  if (filter.length === 0) return refuse('SNT_MQTT_TOPIC_EMPTY', 'topic filter is empty');
  const last = filter.length - 1;
  for (let i = 0; i <= last; i++) {
    const unit = filter.charCodeAt(i);
    const levelStart = i === 0 || filter.charCodeAt(i - 1) === slash;
    if (unit === hash) {
      // MQTT-4.7.1-2: '#' alone in its level, and that level is the last one.
      if (!levelStart || i !== last) {
        return refuse('SNT_MQTT_TOPIC_FILTER_MULTI_LEVEL', `"#" at position ${i} of the topic filter`);
      }
    } else if (unit === plus) {
      // MQTT-4.7.1-3: '+' fills a whole level.
      if (!levelStart || (i !== last && filter.charCodeAt(i + 1) !== slash)) {
        return refuse('SNT_MQTT_TOPIC_FILTER_SINGLE_LEVEL', `"+" at position ${i} of the topic filter`);
      }
    }
  }
  return checkLimits(filter, 'topic filter', limits);
}
