/**
 * Which local subscribers' filters match a topic, as a trie over topic levels, so a downlink
 * message costs its topic depth, not the number of connections. MQTT 3.1.1 §4.7: '+' matches one
 * level, '#' the rest (including the parent level), and filters starting with a wildcard do not
 * match topics starting with '$' (MQTT-4.7.2-1).
 */
interface TrieNode<S> {
  readonly children: Map<string, TrieNode<S>>;
  /** Subscribers whose filter ends at this node, with their granted QoS. */
  readonly subscribers: Map<S, number>;
}

function node<S>(): TrieNode<S> {
  return { children: new Map(), subscribers: new Map() };
}

export class SubscriptionIndex<S> {
  readonly #root: TrieNode<S> = node();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(filter: string, subscriber: S, qos: number): void {
    let current = this.#root;
    for (const level of filter.split('/')) {
      let next = current.children.get(level);
      if (!next) {
        next = node();
        current.children.set(level, next);
      }
      current = next;
    }
    if (!current.subscribers.has(subscriber)) this.#size++;
    current.subscribers.set(subscriber, qos);
  }

  remove(filter: string, subscriber: S): void {
    const path: Array<[TrieNode<S>, string]> = [];
    let current = this.#root;
    for (const level of filter.split('/')) {
      const next = current.children.get(level);
      if (!next) return;
      path.push([current, level]);
      current = next;
    }
    if (current.subscribers.delete(subscriber)) this.#size--;
    // Prune empty branches so an index of churning devices does not grow without bound.
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, level] = path[i]!;
      const child = parent.children.get(level)!;
      if (child.subscribers.size > 0 || child.children.size > 0) break;
      parent.children.delete(level);
    }
  }

  /** Every subscriber with a matching filter, with the highest QoS among its matching filters. */
  match(topic: string): Map<S, number> {
    const result = new Map<S, number>();
    const levels = topic.split('/');
    const systemTopic = topic.startsWith('$');
    const collect = (subscribers: Map<S, number>) => {
      for (const [subscriber, qos] of subscribers) {
        const previous = result.get(subscriber);
        if (previous === undefined || qos > previous) result.set(subscriber, qos);
      }
    };
    const walk = (current: TrieNode<S>, depth: number) => {
      const wildcardAllowed = !(depth === 0 && systemTopic);
      if (wildcardAllowed) {
        const rest = current.children.get('#');
        if (rest) collect(rest.subscribers);
      }
      if (depth === levels.length) {
        collect(current.subscribers);
        return;
      }
      const exact = current.children.get(levels[depth]!);
      if (exact) walk(exact, depth + 1);
      if (wildcardAllowed) {
        const single = current.children.get('+');
        if (single) walk(single, depth + 1);
      }
    };
    walk(this.#root, 0);
    return result;
  }
}
