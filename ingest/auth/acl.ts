/**
 * Per-device topic ACLs. A device holds MQTT topic filters ("patterns") per action; `%c` stands for
 * its client id and `%u` for its user name. Everything not granted is refused.
 *
 * - PUBLISH to a topic is allowed when a publish pattern matches the topic (§4.7 matching).
 * - SUBSCRIBE to a filter is allowed when a subscribe pattern covers it: every topic the requested
 *   filter can match is matched by the pattern. Overlap is not enough (`a/+` does not grant `+/b`).
 * - `$`-topics (`$SYS/...`) are reached only through patterns whose own text starts with `$`
 *   (MQTT-4.7.2-1 already keeps `#` and `+` from matching them at the first level).
 * - A bare `#` subscription needs a bare `#` pattern, even though `+/#` covers the same topics.
 */
import { levelsCovered, levelsMatch, levelsOverlap } from '../../lib/mqtt/topic-filter.js';

export interface DeviceAcls {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

export interface AclIdentity {
  readonly clientId: string;
  readonly username?: string | undefined;
}

export const emptyAcls: DeviceAcls = { publish: [], subscribe: [] };

/**
 * How a SUBSCRIBE filter is judged against the subscribe patterns. 'cover' (the default, strict):
 * granted only if every topic it can match is readable, so a wider filter gets SUBACK 0x80.
 * 'overlap' (Mosquitto's model): granted if any topic it can match is readable, and each delivery
 * is checked against the patterns; 0x80 only for a filter that can deliver nothing readable.
 */
export type SubscribeMatch = 'cover' | 'overlap';

/**
 * A value may be substituted into a pattern only if it cannot change the pattern's shape: no level
 * separator, no wildcard, not empty, and not starting with `$` (it would open `$`-topics to a
 * pattern that does not name them).
 */
export function isSubstitutable(value: string | undefined): value is string {
  if (value === undefined || value.length === 0 || value.startsWith('$')) return false;
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit === 0x2f || unit === 0x2b || unit === 0x23 || unit === 0) return false;
  }
  return true;
}

/**
 * The pattern with `%c` and `%u` replaced, or undefined when it names a value that cannot be
 * substituted safely (the pattern then grants nothing).
 */
export function expandPattern(pattern: string, identity: AclIdentity): string | undefined {
  if (!pattern.includes('%')) return pattern;
  const usesClient = pattern.includes('%c');
  const usesUser = pattern.includes('%u');
  if (usesClient && !isSubstitutable(identity.clientId)) return undefined;
  if (usesUser && !isSubstitutable(identity.username)) return undefined;
  // One pass, so a client id containing "%u" is not substituted again.
  return pattern.replace(/%[cu]/g, (token) =>
    token === '%c' ? identity.clientId : (identity.username ?? ''),
  );
}

interface CompiledPattern {
  readonly text: string;
  readonly levels: readonly string[];
  readonly bareHash: boolean;
}

function compile(patterns: readonly string[], identity: AclIdentity): CompiledPattern[] {
  const compiled: CompiledPattern[] = [];
  for (const pattern of patterns) {
    const expanded = expandPattern(pattern, identity);
    if (expanded === undefined) continue;
    compiled.push({ text: expanded, levels: expanded.split('/'), bareHash: expanded === '#' });
  }
  return compiled;
}

/**
 * The ACL of one connected device, with `%c`/`%u` substituted once at CONNECT so each PUBLISH and
 * SUBSCRIBE costs only the level walk.
 */
export class DeviceAclPolicy {
  private readonly publish: readonly CompiledPattern[];
  private readonly subscribe: readonly CompiledPattern[];
  private readonly subscribeMatch: SubscribeMatch;

  constructor(acls: DeviceAcls, identity: AclIdentity, subscribeMatch: SubscribeMatch = 'cover') {
    this.publish = compile(acls.publish, identity);
    this.subscribe = compile(acls.subscribe, identity);
    this.subscribeMatch = subscribeMatch;
  }

  /** `topic` is a valid topic name (validated by the protocol core). */
  canPublish(topic: string): boolean {
    const levels = topic.split('/');
    return this.publish.some((pattern) => levelsMatch(levels, pattern.levels));
  }

  /** The patterns this session holds, substituted (what the CONNECT event records). */
  granted(): { publish: string[]; subscribe: string[] } {
    return { publish: this.publish.map((p) => p.text), subscribe: this.subscribe.map((p) => p.text) };
  }

  /**
   * `filter` is a valid topic filter (validated by the protocol core). 'cover': every topic it can
   * match is readable; 'overlap': at least one is (the deliveries are then checked by canRead).
   */
  canSubscribe(filter: string): boolean {
    const levels = filter.split('/');
    if (this.subscribeMatch === 'overlap')
      return this.subscribe.some((pattern) => levelsOverlap(levels, pattern.levels));
    if (filter === '#') return this.subscribe.some((pattern) => pattern.bareHash);
    return this.subscribe.some((pattern) => levelsCovered(levels, pattern.levels));
  }

  /** Whether a message on `topic` may be delivered to this session (a subscribe pattern matches it). */
  canRead(topic: string): boolean {
    const levels = topic.split('/');
    return this.subscribe.some((pattern) => levelsMatch(levels, pattern.levels));
  }
}
