import type { Redis } from 'ioredis';
import { isDollar } from './topic-filter.js';

/**
 * Retained messages (MQTT 3.1.1 §3.3.1.3) for subscribers at the edge. The origin keeps them; the
 * bridge follows every change of the origin's retained state (an MQTT 5 subscription with Retain As
 * Published) and writes it to Redis: one hash per deployment (`<topic prefix>retained`, field =
 * topic, value = QoS byte + payload) and a channel that names each changed topic. Every edge proxy
 * mirrors the hash in memory and answers a SUBSCRIBE from the mirror, so a new subscriber gets the
 * retained messages its filter matches without a round trip (MQTT-3.3.1-6).
 */
export interface RetainedMessage {
  readonly qos: 0 | 1 | 2;
  readonly payload: Buffer;
}

export function retainedKeys(topicPrefix: string): { readonly hash: string; readonly channel: string } {
  return { hash: `${topicPrefix}retained`, channel: `${topicPrefix}retained:changed` };
}

export function encodeRetained(message: RetainedMessage): Buffer {
  const value = Buffer.allocUnsafe(1 + message.payload.length);
  value[0] = message.qos;
  message.payload.copy(value, 1);
  return value;
}

/** undefined for a value this version cannot read (it is then left out of the mirror). */
export function decodeRetained(value: Buffer): RetainedMessage | undefined {
  const qos = value[0];
  if (qos !== 0 && qos !== 1 && qos !== 2) return undefined;
  return { qos, payload: value.subarray(1) };
}

interface Node {
  readonly children: Map<string, Node>;
  message: RetainedMessage | undefined;
}

const newNode = (): Node => ({ children: new Map(), message: undefined });

/** Far beyond what devices may use (SENTINEL_MQTT_MAX_TOPIC_LEVELS, 16) and what a stack holds easily. */
const maxRetainedTopicLevels = 256;

/**
 * The retained messages by topic, as a trie over topic levels: a filter costs the part of the tree
 * it can match, not the number of retained topics. Bounded in bytes (topic + payload); a message
 * that does not fit is not kept (the caller counts it).
 */
export class RetainedIndex {
  readonly #root = newNode();
  readonly #maxBytes: number;
  #bytes = 0;
  #size = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Stores or replaces; false when it would exceed the byte bound (the old message, if any, is removed). */
  set(topic: string, message: RetainedMessage): boolean {
    // Deeper topics are not kept: the walks recurse once per level.
    if (topic.split('/').length > maxRetainedTopicLevels) return false;
    const previous = this.get(topic);
    const added = topic.length + message.payload.length;
    const freed = previous ? topic.length + previous.payload.length : 0;
    if (this.#bytes - freed + added > this.#maxBytes) {
      this.delete(topic);
      return false;
    }
    let current = this.#root;
    for (const level of topic.split('/')) {
      let next = current.children.get(level);
      if (!next) {
        next = newNode();
        current.children.set(level, next);
      }
      current = next;
    }
    if (!current.message) this.#size++;
    this.#bytes += added - freed;
    // A copy: the payload may be a slice of a larger buffer that would otherwise stay alive.
    current.message = { qos: message.qos, payload: Buffer.from(message.payload) };
    return true;
  }

  get(topic: string): RetainedMessage | undefined {
    let current: Node | undefined = this.#root;
    for (const level of topic.split('/')) {
      current = current.children.get(level);
      if (!current) return undefined;
    }
    return current.message;
  }

  delete(topic: string): void {
    const path: Array<[Node, string]> = [];
    let current = this.#root;
    for (const level of topic.split('/')) {
      const next = current.children.get(level);
      if (!next) return;
      path.push([current, level]);
      current = next;
    }
    if (!current.message) return;
    this.#bytes -= topic.length + current.message.payload.length;
    this.#size--;
    current.message = undefined;
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, level] = path[i]!;
      const child = parent.children.get(level)!;
      if (child.message || child.children.size > 0) break;
      parent.children.delete(level);
    }
  }

  /** Every topic held, '$' topics included. */
  topics(): string[] {
    const found: string[] = [];
    const walk = (node: Node, topic: string | null) => {
      if (node.message && topic !== null) found.push(topic);
      for (const [level, child] of node.children) walk(child, topic === null ? level : `${topic}/${level}`);
    };
    walk(this.#root, null);
    return found;
  }

  /** Every retained message whose topic the filter matches (§4.7), with its topic. */
  match(filter: string): Array<[string, RetainedMessage]> {
    const found: Array<[string, RetainedMessage]> = [];
    const levels = filter.split('/');
    const everything = (node: Node, topic: string) => {
      if (node.message) found.push([topic, node.message]);
      for (const [level, child] of node.children) everything(child, `${topic}/${level}`);
    };
    const walk = (node: Node, depth: number, topic: string | null) => {
      const level = levels[depth];
      if (level === undefined) {
        if (node.message && topic !== null) found.push([topic, node.message]);
        return;
      }
      const join = (child: string) => (topic === null ? child : `${topic}/${child}`);
      if (level === '#') {
        // '#' also matches the parent level ("a/#" matches "a"); a leading one matches every topic.
        if (node.message && topic !== null) found.push([topic, node.message]);
        for (const [name, child] of node.children) {
          // MQTT-4.7.2-1: a filter starting with a wildcard does not match a '$' topic.
          if (depth === 0 && isDollar(name)) continue;
          everything(child, join(name));
        }
        return;
      }
      if (level === '+') {
        for (const [name, child] of node.children) {
          if (depth === 0 && isDollar(name)) continue;
          walk(child, depth + 1, join(name));
        }
        return;
      }
      const child = node.children.get(level);
      if (child) walk(child, depth + 1, join(level));
    };
    walk(this.#root, 0, null);
    return found;
  }
}

/**
 * The bridge's side: applies one change of the origin's retained state (an empty payload clears it,
 * MQTT-3.3.1-10/11) and names the topic on the channel, in one round trip.
 */
export async function storeRetained(
  redis: Redis,
  topicPrefix: string,
  topic: string,
  message: RetainedMessage,
): Promise<void> {
  const keys = retainedKeys(topicPrefix);
  const batch = redis.multi();
  if (message.payload.length === 0) batch.hdel(keys.hash, topic);
  else batch.hset(keys.hash, topic, encodeRetained(message));
  batch.publish(keys.channel, topic);
  const results = await batch.exec();
  const failed = results?.find(([err]) => err !== null);
  if (failed) throw failed[0];
}

/**
 * Removes the stored topics that `present` does not hold, naming each on the channel: after the
 * origin replayed its whole retained state, what it did not replay was cleared while no bridge was
 * listening. Returns how many were removed.
 */
export async function removeRetainedExcept(
  redis: Redis,
  topicPrefix: string,
  present: ReadonlySet<string>,
): Promise<number> {
  const keys = retainedKeys(topicPrefix);
  let removed = 0;
  let cursor = '0';
  do {
    // Field and value alternate (NOVALUES needs Redis 7.4); the values are small next to a round trip.
    const [next, entries] = await redis.hscan(keys.hash, cursor, 'COUNT', 1000);
    cursor = next;
    const stale = entries.filter((topic, i) => i % 2 === 0 && !present.has(topic));
    if (stale.length === 0) continue;
    const batch = redis.multi().hdel(keys.hash, ...stale);
    for (const topic of stale) batch.publish(keys.channel, topic);
    await batch.exec();
    removed += stale.length;
  } while (cursor !== '0');
  return removed;
}
