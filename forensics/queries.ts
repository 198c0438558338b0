import type { ClickHouseClient } from '@clickhouse/client';
import { SentinelError } from '../lib/errors.js';
import { checkReadOnlyStatement } from './read-only.js';

/**
 * The saved queries an analyst runs (`sentinel forensics <name>`). Each is fixed SQL text over the
 * forensic tables with ClickHouse query parameters ({name:Type}); what the analyst types is checked
 * here and bound by the engine, never spliced into the text. FINAL makes every count exact even if a
 * rebalance race stored a record twice and the parts have not merged yet.
 *
 * docs/forensics.md shows each query's SQL; keep the two in step.
 */
export type QueryOption = 'since' | 'until' | 'interval' | 'rule' | 'limit' | 'client';

const allOptions: readonly QueryOption[] = ['since', 'until', 'interval', 'rule', 'limit', 'client'];

export interface NamedQueryArgs {
  readonly positional: readonly string[];
  readonly since?: string;
  readonly until?: string;
  readonly interval?: string;
  readonly rule?: string;
  readonly limit?: string;
  /** quarantine, quarantine-decisions: one client only. */
  readonly client?: string;
}

export interface PreparedQuery {
  readonly name: string;
  readonly sql: string;
  readonly params: Readonly<Record<string, string | number>>;
  /** Ad-hoc SQL: the request also asks the engine for readonly = 1. */
  readonly adHoc: boolean;
}

interface NamedQuery {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly positional: readonly string[];
  readonly options: readonly QueryOption[];
  readonly build: (input: ValidatedInput) => { sql: string; params: Record<string, string | number> };
}

interface ValidatedInput {
  readonly positional: readonly string[];
  readonly since: string;
  readonly until: string;
  readonly intervalSeconds: number;
  readonly rule: string | undefined;
  readonly client: string | undefined;
  readonly limit: number;
}

function invalid(reason: string): SentinelError {
  return new SentinelError('SNT_FORENSICS_QUERY_INVALID', reason);
}

/** Display form of an IPv6 column: IPv4-mapped addresses as plain IPv4. */
const ip = (column: string) => `replaceRegexpOne(toString(${column}), '^::ffff:', '')`;

const window = (column: string) =>
  `${column} >= {since:DateTime64(3, 'UTC')} AND ${column} < {until:DateTime64(3, 'UTC')}`;

const windowParams = (input: ValidatedInput) => ({
  since: input.since,
  until: input.until,
  limit: input.limit,
});

/** The decisions of the processors; released, dropped and expired are reviews of a quarantine. */
const processorsDecision = "decision IN ('allow', 'block', 'quarantine')";

/** `AND client_id = {client:String}` when --client is given (one of two fixed texts). */
const clientFilter = (input: ValidatedInput, column = 'client_id') =>
  input.client !== undefined ? ` AND ${column} = {client:String}` : '';

const clientParams = (input: ValidatedInput): Record<string, string> =>
  input.client !== undefined ? { client: input.client } : {};

const queries: readonly NamedQuery[] = [
  {
    name: 'device-timeline',
    usage: 'device-timeline <client-id> [--since] [--until]',
    summary: 'every packet and verdict of one client in a window, in time order',
    positional: ['client-id'],
    options: ['since', 'until', 'limit'],
    build: (input) => ({
      sql: `SELECT time, kind, event_id, what, topic, ip, detail
FROM (
  SELECT received_at AS time, 'packet' AS kind, 1 AS ord, event_id, toString(packet_type) AS what, topic,
    ${ip('source_ip')} AS ip,
    concat('bytes=', toString(packet_size),
      if(auth_result != '', concat(' auth=', auth_result), ''),
      if(edge_action != '', concat(' edge=', edge_action), ''),
      if(malformed_reason != '', concat(' malformed=', malformed_reason, ' ', malformed_clause), '')) AS detail
  FROM packets FINAL
  WHERE client_id = {client:String} AND ${window('received_at')}
  UNION ALL
  SELECT decided_at, 'verdict', 2, event_id, toString(decision), topic, ${ip('source_ip')},
    concat('latency_ms=', toString(round(processing_latency_ms, 1)),
      if(notEmpty(findings.rule_id), concat(' findings=', arrayStringConcat(findings.rule_id, ',')), ''),
      if(mode != 'enforce', concat(' mode=', mode), ''),
      if(review_decision_id != '', concat(' by=', review_operator, ' reason=', review_reason), ''))
  FROM verdicts FINAL
  WHERE client_id = {client:String} AND ${window('decided_at')}
)
ORDER BY time, ord, event_id
LIMIT {limit:UInt32}`,
      params: { client: input.positional[0] as string, ...windowParams(input) },
    }),
  },
  {
    name: 'top-offenders',
    usage: 'top-offenders [--since] [--until] [--limit]',
    summary:
      'clients and source addresses ranked by blocked (then quarantined) verdicts; reviews of a quarantine are not counted',
    positional: [],
    options: ['since', 'until', 'limit'],
    build: (input) => ({
      sql: `SELECT client_id, ${ip('source_ip')} AS ip,
  countIf(decision = 'block') AS blocked,
  countIf(decision = 'quarantine') AS quarantined,
  arrayStringConcat(arraySort(groupUniqArrayArray(5)(findings.rule_id)), ',') AS rules,
  min(decided_at) AS first_seen,
  max(decided_at) AS last_seen
FROM verdicts FINAL
WHERE decision IN ('block', 'quarantine') AND ${window('decided_at')}
GROUP BY client_id, ip
ORDER BY blocked DESC, quarantined DESC, client_id, ip
LIMIT {limit:UInt32}`,
      params: windowParams(input),
    }),
  },
  {
    name: 'findings-by-rule',
    usage: 'findings-by-rule [--since] [--until] [--interval 1h]',
    summary: 'findings per rule per time bucket, with how many were shadow-only, blocked, and clients hit',
    positional: [],
    options: ['since', 'until', 'interval', 'limit'],
    build: (input) => ({
      sql: `SELECT toStartOfInterval(decided_at, toIntervalSecond({interval:UInt32})) AS bucket,
  f.rule_id AS rule_id, f.class AS class, f.severity AS severity,
  count() AS matches,
  countIf(f.shadow) AS shadow,
  countIf(decision = 'block') AS blocked,
  uniqExact(client_id) AS clients
FROM verdicts FINAL
ARRAY JOIN findings AS f
WHERE ${processorsDecision} AND ${window('decided_at')}
GROUP BY bucket, rule_id, class, severity
ORDER BY bucket, matches DESC, rule_id
LIMIT {limit:UInt32}`,
      params: { ...windowParams(input), interval: input.intervalSeconds },
    }),
  },
  {
    name: 'auth-failures-by-ip',
    usage: 'auth-failures-by-ip [--since] [--until] [--limit]',
    summary: 'refused CONNECTs per source address: denied, device-DB errors, rate limited, distinct clients',
    positional: [],
    options: ['since', 'until', 'limit'],
    build: (input) => ({
      sql: `SELECT ${ip('source_ip')} AS ip,
  countIf(auth_result = 'denied') AS denied,
  countIf(auth_result = 'error') AS errors,
  countIf(auth_result = 'rate_limited') AS rate_limited,
  uniqExact(client_id) AS clients,
  arrayStringConcat(arraySort(groupUniqArray(5)(username)), ',') AS usernames,
  min(received_at) AS first_seen,
  max(received_at) AS last_seen
FROM packets FINAL
WHERE packet_type = 'CONNECT' AND auth_result IN ('denied', 'error', 'rate_limited') AND ${window('received_at')}
GROUP BY ip
ORDER BY denied DESC, errors DESC, rate_limited DESC, ip
LIMIT {limit:UInt32}`,
      params: windowParams(input),
    }),
  },
  {
    name: 'payload-search',
    usage: 'payload-search <substring> | --rule <rule-id>  [--since] [--until]',
    summary:
      'packets whose payload contains a substring, or verdict findings of one rule with their evidence',
    positional: ['substring'],
    options: ['since', 'until', 'rule', 'limit'],
    build: (input) =>
      input.rule !== undefined
        ? {
            sql: `SELECT decided_at AS time, client_id, ${ip('source_ip')} AS ip, topic, event_id,
  toString(decision) AS decision, f.evidence AS evidence, f.location AS location
FROM verdicts FINAL
ARRAY JOIN findings AS f
WHERE f.rule_id = {rule:String} AND ${processorsDecision} AND ${window('decided_at')}
ORDER BY time, client_id, event_id
LIMIT {limit:UInt32}`,
            params: { rule: input.rule, ...windowParams(input) },
          }
        : {
            sql: `SELECT received_at AS time, client_id, ${ip('source_ip')} AS ip, topic, event_id,
  substringUTF8(payload, greatest(1, toInt64(positionUTF8(payload, {needle:String})) - 40), 120) AS excerpt
FROM packets FINAL
WHERE NOT payload_binary AND positionUTF8(payload, {needle:String}) > 0 AND ${window('received_at')}
ORDER BY time, client_id, event_id
LIMIT {limit:UInt32}`,
            params: { needle: input.positional[0] as string, ...windowParams(input) },
          },
  },
  {
    name: 'message-path',
    usage: 'message-path <event-id>',
    summary: 'one message from edge receipt to verdict to origin delivery, with the latency of each leg',
    positional: ['event-id'],
    options: [],
    build: (input) => ({
      sql: `SELECT stage, at, client_id, detail,
  dateDiff('millisecond', min(at) OVER (), at) AS ms_since_receipt,
  dateDiff('millisecond', lagInFrame(at, 1, at) OVER (ORDER BY ord ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), at) AS ms_since_previous
FROM (
  SELECT 1 AS ord, 'edge receipt' AS stage, received_at AS at, client_id,
    concat(toString(packet_type), ' ', topic, ' from ', ${ip('source_ip')}, ' via ', proxy_id,
      ' (packets ', toString(kafka_partition), '/', toString(kafka_offset), ')') AS detail
  FROM packets FINAL WHERE event_id = {event:String}
  UNION ALL
  SELECT 2, if(review_decision_id != '', 'review', 'verdict'), decided_at, client_id,
    concat(toString(decision), ' mode=', mode, ' processing_ms=', toString(round(processing_latency_ms, 1)),
      if(notEmpty(findings.rule_id), concat(' findings=', arrayStringConcat(findings.rule_id, ',')), ''),
      if(review_decision_id != '', concat(' by=', review_operator, ' reason=', review_reason), ''))
  FROM verdicts FINAL WHERE event_id = {event:String}
  UNION ALL
  SELECT 3, 'origin delivery', delivered_at, client_id,
    concat('PUBACK via ', bridge_id, ' attempts=', toString(attempts), ' end_to_end_ms=', toString(round(end_to_end_ms, 1)))
  FROM deliveries FINAL WHERE event_id = {event:String}
)
ORDER BY ord, at`,
      params: { event: input.positional[0] as string },
    }),
  },
  {
    name: 'quarantine',
    usage: 'quarantine [--client <client-id>] [--since] [--until] [--limit]',
    summary:
      'quarantined messages held in the window and what became of them: held, released, dropped or expired, by whom and why',
    positional: [],
    options: ['since', 'until', 'limit', 'client'],
    // A held message replayed by the processors collapses by held_id (FINAL). Should two decisions
    // name one held message, the first is what happened.
    build: (input) => ({
      sql: `SELECT h.held_at AS held_at, h.held_id AS held_id, h.client_id AS client_id, h.topic AS topic,
  h.rules AS rules,
  multiIf(d.held_id = '', 'held', d.first_action = 'release', 'released', d.first_action = 'drop', 'dropped',
    'expired') AS status,
  d.first_operator AS operator, d.first_reason AS reason,
  if(d.held_id = '', NULL, d.first_decided_at) AS decided_at
FROM (
  SELECT held_at, held_id, client_id, topic,
    arrayStringConcat(arraySort(arrayDistinct(findings.rule_id)), ',') AS rules
  FROM held_messages FINAL
  WHERE ${window('held_at')}${clientFilter(input)}
) AS h
LEFT JOIN (
  SELECT held_id,
    argMin(action, (decided_at, decision_id)) AS first_action,
    argMin(operator, (decided_at, decision_id)) AS first_operator,
    argMin(reason, (decided_at, decision_id)) AS first_reason,
    min(decided_at) AS first_decided_at
  FROM quarantine_decisions FINAL
  WHERE held_id IN (SELECT held_id FROM held_messages WHERE ${window('held_at')}${clientFilter(input)})
  GROUP BY held_id
) AS d ON d.held_id = h.held_id
ORDER BY held_at, held_id
LIMIT {limit:UInt32}`,
      params: { ...windowParams(input), ...clientParams(input) },
    }),
  },
  {
    name: 'quarantine-decisions',
    usage: 'quarantine-decisions [--client <client-id>] [--since] [--until] [--limit]',
    summary:
      'the audit trail of quarantine reviews: who released, dropped or expired which held message, and why',
    positional: [],
    options: ['since', 'until', 'limit', 'client'],
    build: (input) => ({
      sql: `SELECT decided_at, operator, toString(action) AS action, held_id, client_id, reason
FROM quarantine_decisions FINAL
WHERE ${window('decided_at')}${clientFilter(input)}
ORDER BY decided_at, decision_id
LIMIT {limit:UInt32}`,
      params: { ...windowParams(input), ...clientParams(input) },
    }),
  },
];

export const namedQueryList: readonly { name: string; usage: string; summary: string }[] = [
  ...queries.map(({ name, usage, summary }) => ({ name, usage, summary })),
  {
    name: 'sql',
    usage: 'sql "<SQL>"',
    summary: 'any single reading statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN)',
  },
];

const units: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** `15m`, `24h`, `7d` ago; an ISO 8601 date or time (UTC unless it names a zone); or `now`. */
export function parseInstant(text: string, now: number, setting: string): number {
  const trimmed = text.trim();
  if (trimmed === 'now') return now;
  const relative = /^(\d{1,6})([smhdw])$/.exec(trimmed);
  if (relative) return now - Number(relative[1]) * (units[relative[2] as string] as number);
  const absolute =
    /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?))?(Z|[+-]\d{2}:?\d{2})?$/.exec(trimmed);
  if (absolute) {
    const value = Date.parse(`${absolute[1]}T${absolute[2] ?? '00:00'}${absolute[3] ?? 'Z'}`);
    // Date.parse rolls 2025-02-30 over into March; a UTC time must keep the date it was given.
    const utc = absolute[3] === undefined || absolute[3] === 'Z';
    if (!Number.isNaN(value) && (!utc || new Date(value).toISOString().slice(0, 10) === absolute[1]))
      return value;
  }
  throw invalid(
    `${setting} ${JSON.stringify(text)} is not a time: use a duration ago (30s, 15m, 24h, 7d, 2w), an ISO 8601 date or time (2025-06-01, 2025-06-01T12:00:00Z) or now`,
  );
}

export function parseInterval(text: string): number {
  const match = /^(\d{1,6})([smhd])$/.exec(text.trim());
  const seconds = match ? (Number(match[1]) * (units[match[2] as string] as number)) / 1000 : Number.NaN;
  if (!(seconds >= 1 && seconds <= 30 * 86_400)) {
    throw invalid(
      `--interval ${JSON.stringify(text)} is not an interval from 1s to 30d (e.g. 1m, 15m, 1h, 1d)`,
    );
  }
  return seconds;
}

function utcText(epochMs: number): string {
  return new Date(epochMs).toISOString().replace('T', ' ').replace('Z', '');
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return 1000;
  const value = /^\d{1,7}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 1 && value <= 1_000_000))
    throw invalid(`--limit ${JSON.stringify(text)} is not a whole number 1..1000000`);
  return value;
}

function requireText(value: string | undefined, what: string, max: number): string {
  if (value === undefined || value.length === 0) throw invalid(`${what} is required`);
  if (value.length > max) throw invalid(`${what} is longer than ${max} characters`);
  return value;
}

/** Checks the analyst's input and returns the SQL with its parameters, or throws SNT_FORENSICS_QUERY_INVALID. */
export function prepareNamedQuery(
  name: string,
  args: NamedQueryArgs,
  now: number = Date.now(),
): PreparedQuery {
  if (name === 'sql') return prepareSql(args);
  const query = queries.find((q) => q.name === name);
  if (!query) {
    throw invalid(
      `unknown query ${JSON.stringify(name)}; the named queries are ${namedQueryList.map((q) => q.name).join(', ')}`,
    );
  }
  const given = allOptions.filter((o) => args[o] !== undefined);
  const foreign = given.filter((o) => !query.options.includes(o));
  if (foreign.length > 0) {
    throw invalid(`${name} does not take ${foreign.map((o) => `--${o}`).join(', ')}; usage: ${query.usage}`);
  }
  const positional = args.positional;
  const wantsRule = query.options.includes('rule') && args.rule !== undefined;
  const expected = wantsRule ? 0 : query.positional.length;
  if (positional.length !== expected) {
    const reason =
      wantsRule && positional.length > 0
        ? 'give a substring or --rule, not both'
        : `expects ${expected} argument(s)`;
    throw invalid(`${name} ${reason}; usage: ${query.usage}`);
  }
  positional.forEach((value, i) => {
    requireText(value, `<${query.positional[i]}>`, 1024);
  });
  if (wantsRule) requireText(args.rule, '--rule', 200);
  if (args.client !== undefined) requireText(args.client, '--client', 1024);
  const until = parseInstant(args.until ?? 'now', now, '--until');
  const since = parseInstant(args.since ?? '24h', now, '--since');
  if (since >= until)
    throw invalid(
      `the window is empty: --since ${args.since ?? '24h'} is not before --until ${args.until ?? 'now'}`,
    );
  const built = query.build({
    positional,
    since: utcText(since),
    until: utcText(until),
    intervalSeconds: parseInterval(args.interval ?? '1h'),
    rule: args.rule,
    client: args.client,
    limit: parseLimit(args.limit),
  });
  return { name, sql: built.sql, params: built.params, adHoc: false };
}

function prepareSql(args: NamedQueryArgs): PreparedQuery {
  const given = allOptions.filter((o) => args[o] !== undefined);
  if (given.length > 0) throw invalid(`sql does not take ${given.map((o) => `--${o}`).join(', ')}`);
  if (args.positional.length !== 1) throw invalid('sql expects one argument: the statement, quoted');
  const check = checkReadOnlyStatement(args.positional[0] as string);
  if (!check.ok) throw invalid(`sql: ${check.reason}`);
  if (/\bFORMAT\s+[A-Za-z]\w*\s*$/i.test(check.statement)) {
    throw invalid('sql: leave out the FORMAT clause; the output is a table, or JSON with --json');
  }
  return { name: 'sql', sql: check.statement, params: {}, adHoc: true };
}

/** Runs a prepared query; rows as objects in column order. */
export async function runPreparedQuery(
  client: ClickHouseClient,
  prepared: PreparedQuery,
): Promise<Record<string, unknown>[]> {
  const result = await client.query({
    query: prepared.sql,
    query_params: prepared.params,
    format: 'JSONEachRow',
    ...(prepared.adHoc ? { clickhouse_settings: { readonly: '1' } } : {}),
  });
  return result.json<Record<string, unknown>>();
}
