/**
 * MQTT 3.1.1 topic matching (§4.7), shared by the edge's ACLs and the processors' topic checks:
 * one implementation, so the two ends of the pipeline cannot disagree on what a filter grants.
 */
export function isDollar(level: string | undefined): boolean {
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

/**
 * True when some topic name matches both filters (valid filters split into levels): a SUBSCRIBE
 * with `a` can deliver something `b` allows. Level by level: '#' matches the rest (and the parent
 * level), '+' any one level, literals must be equal; a topic starting with '$' is matched by
 * neither wildcard at the first level (MQTT-4.7.2-1).
 */
export function levelsOverlap(a: readonly string[], b: readonly string[]): boolean {
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === '#' || y === '#') {
      if (i > 0) return true;
      // A leading '#' matches no '$' topic: the other filter must admit a topic without one.
      const other = x === '#' ? y : x;
      return other === undefined || !isDollar(other);
    }
    // One filter ended, the other goes on with something other than '#': no topic matches both.
    if (x === undefined || y === undefined) return false;
    if (x === '+' || y === '+') {
      if (i === 0 && (isDollar(x) || isDollar(y))) return false;
      continue;
    }
    if (x !== y) return false;
  }
  return true;
}

export function filtersOverlap(a: string, b: string): boolean {
  return levelsOverlap(a.split('/'), b.split('/'));
}

export function filterCoveredBy(requested: string, granted: string): boolean {
  return levelsCovered(requested.split('/'), granted.split('/'));
}
