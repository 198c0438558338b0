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

function isDollar(level: string | undefined): boolean {
  return level !== undefined && level.charCodeAt(0) === 0x24;
}

/** §4.7.1 matching of a topic name against a filter, both already split into levels. */
export function levelsMatch(topic: readonly string[], filter: readonly string[]): boolean {
  // MQTT-4.7.2-1: a filter starting with a wildcard does not match a topic starting with '$'.
  if (isDollar(topic[0]) && (filter[0] === '#' || filter[0] === '+')) return false;
  for (let i = 0; i < filter.length; i++) {
    const level = filter[i];
    // '#' also matches the parent level: "a/#" matches "a".
    if (level === '#') return true;
    if (i >= topic.length) return false;
    if (level !== '+' && level !== topic[i]) return false;
  }
  return topic.length === filter.length;
}

export function topicMatchesFilter(topic: string, filter: string): boolean {
  return levelsMatch(topic.split('/'), filter.split('/'));
}

/**
 * True when every topic `requested` can match is also matched by `granted` (filter subset), both
 * valid filters split into levels. Walks the levels once:
 * - `#` in granted covers the rest of requested, including the parent level requested may end at;
 * - `#` in requested needs `#` in granted at the same level (or `+/#` for a leading `#`);
 * - `+` in requested needs `+` (or `#`) in granted;
 * - a literal in requested is covered by the same literal or `+` - except a `$` first level, which
 *   `+` and `#` do not match (MQTT-4.7.2-1).
 */
export function levelsCovered(requested: readonly string[], granted: readonly string[]): boolean {
  for (let i = 0; i < granted.length; i++) {
    const g = granted[i];
    const r = requested[i];
    if (g === '#') return !(i === 0 && isDollar(r));
    if (r === undefined) return false;
    // A topic has at least one level, so a leading '#' matches exactly what '+/#' matches.
    if (r === '#') return i === 0 && g === '+' && granted.length === 2 && granted[1] === '#';
    if (g === '+') {
      if (i === 0 && isDollar(r)) return false;
      continue;
    }
    if (r === '+' || r !== g) return false;
  }
  return requested.length === granted.length;
}

export function filterCoveredBy(requested: string, granted: string): boolean {
  return levelsCovered(requested.split('/'), granted.split('/'));
}

interface CompiledPattern {
  readonly levels: readonly string[];
  readonly bareHash: boolean;
}

function compile(patterns: readonly string[], identity: AclIdentity): CompiledPattern[] {
  const compiled: CompiledPattern[] = [];
  for (const pattern of patterns) {
    const expanded = expandPattern(pattern, identity);
    if (expanded === undefined) continue;
    compiled.push({ levels: expanded.split('/'), bareHash: expanded === '#' });
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

  constructor(acls: DeviceAcls, identity: AclIdentity) {
    this.publish = compile(acls.publish, identity);
    this.subscribe = compile(acls.subscribe, identity);
  }

  /** `topic` is a valid topic name (validated by the protocol core). */
  canPublish(topic: string): boolean {
    const levels = topic.split('/');
    return this.publish.some((pattern) => levelsMatch(levels, pattern.levels));
  }

  /** `filter` is a valid topic filter (validated by the protocol core). */
  canSubscribe(filter: string): boolean {
    if (filter === '#') return this.subscribe.some((pattern) => pattern.bareHash);
    const levels = filter.split('/');
    return this.subscribe.some((pattern) => levelsCovered(levels, pattern.levels));
  }
}
