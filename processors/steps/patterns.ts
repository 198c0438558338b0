import { type DecodeLimits, normalise } from '../inspect/decode.js';
import { type JsonScanLimits, type JsonString, jsonStringPath } from '../inspect/json-scan.js';
import {
  jsonScanLimits,
  payloadIsUtf8,
  payloadJson,
  payloadTextUpTo,
  withoutBom,
} from '../inspect/payload-json.js';
import {
  type CompiledRule,
  DEFAULT_RULES,
  type PatternClass,
  type RuleTarget,
  TRANSFORM_FUNCTIONS,
} from '../inspect/rules.js';
import { boundedLocation, excerpt, type Finding, type PacketEvent } from '../model.js';
import { type Policy, ruleDisposition } from '../policy/policy.js';
import type { Step } from '../step.js';

/**
 * Injection patterns (SQL, XSS, OS command, path traversal) over decoded content: every JSON key
 * and string value, or the payload as text and each value of a query string, plus the topic and, on CONNECT, the client id and
 * username. A class is detected when the points of its matched rules reach the policy's score
 * threshold (CRS anomaly scoring), so one weak signal alone does not block a device.
 */
export interface PatternsStepOptions {
  readonly policy: Policy;
  readonly rules?: readonly CompiledRule[];
}

type InspectedField = {
  readonly target: RuleTarget;
  readonly text: string;
  /**
   * A part of a text already read whole (a query value, a line's value), re-read in its own
   * context by the rules that depend on it: counted against `derivedFieldsMax`, not the character
   * budget, so re-reading does not crowd out the text itself.
   */
  readonly derived?: boolean;
  /** For a JSON string value inside an object: its member name (`"cmd": "..."`). */
  readonly member?: string | undefined;
} & (
  | { readonly location: string }
  // A JSON string's location is built only when a rule reports it.
  | { readonly json: JsonString; readonly suffix: string }
);

function locationOf(field: InspectedField): string {
  return 'location' in field ? field.location : `payload.json:${jsonStringPath(field.json)}${field.suffix}`;
}

interface RuleHit {
  readonly rule: CompiledRule;
  readonly location: string;
  readonly evidence: string;
}

const CHUNK_OVERLAP = 256;
/**
 * What inspecting one field costs besides its characters (normalising, one needle test per
 * transform), counted in characters against `maxMessageChars`: a JSON of 12,000 tiny keys is as
 * much work as 130,000 characters of text, so the budget bounds it as it bounds text, by work done
 * rather than by a clock, and the decision does not depend on how busy the machine is.
 */
const FIELD_COST = 16;

/**
 * How many parts of a text are re-read on their own (key=value lines, query values): a quarter of
 * the message budget in field overheads, 1,024 with the default 65,536. A text of 5,000 such lines
 * cost 8 ms through the chain; this keeps the whole message near 5 ms.
 */
function derivedFieldsMax(maxMessageChars: number): number {
  return Math.floor(maxMessageChars / 4 / FIELD_COST);
}

function escapeRegExp(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}
const utf8 = new TextDecoder('utf-8', { fatal: true });

interface PayloadWalk {
  readonly fields: InspectedField[];
  /** Why part of the payload was not inspected, or null. */
  limit: string | null;
}

const base64Shape = /^[A-Za-z0-9+/_-]{12,}={0,2}$/;

/**
 * A string value that is base64 of text (a script or markup carried as `"cmd_b64": "..."`): the text,
 * inspected as another field. Base64 of binary (an image, a key) does not decode to UTF-8 text and
 * is left to the size and entropy detectors. One level: what the text carries is decoded as usual.
 */
function base64Text(value: string): string | null {
  if (value.length % 4 === 1 || !base64Shape.test(value)) return null;
  let decoded: string;
  try {
    decoded = utf8.decode(
      Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64'),
    );
  } catch {
    return null;
  }
  return decoded.length >= 4 && mostlyPrintable(decoded) ? decoded : null;
}

function mostlyPrintable(text: string): boolean {
  let printable = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if ((c >= 32 && c < 127) || c === 9 || c === 10 || c === 13 || c > 159) printable += 1;
  }
  return printable >= text.length * 0.9;
}

/** A query string's or form body's `key=` at the start of a pair, still encoded. */
const PARAMETER = /^[\w.%[\]-]{1,64}=/;

/**
 * Adds each value of a query string or form body (true when the text is one) (`GET /q?zone=7&id=1`, `a=1&b=2`), as devices send
 * through HTTP bridges, as a field of its own: an application pastes each into SQL or a shell on
 * its own, so each is read in its own contexts, as each JSON string is. A `?` starts the query only
 * when no `=` or `&` comes before it, and it takes two parameters or more (a lone `hour=22 and
 * door=open` is a rule written in text, read whole). Split before any decoding, by hand: an encoded
 * `%26` stays inside its value, and the lenient decoder still sees `%c0%af` (URLSearchParams would
 * make invalid UTF-8 U+FFFD). At most `maxNodes` parameters, as JSON nodes.
 */
function walkQuery(text: string, maxNodes: number, walk: PayloadWalk): boolean {
  const mark = text.indexOf('?');
  const before = mark === -1 ? '' : text.slice(0, mark);
  const query = mark !== -1 && !before.includes('=') && !before.includes('&') ? text.slice(mark + 1) : text;
  if (!query.includes('&') || !PARAMETER.test(query)) return false;
  // Split no further than the cap: a text of '&' alone must not become an array of its length.
  const pairs = query.split('&', maxNodes + 1);
  if (pairs.length > maxNodes) {
    walk.limit = `more than ${maxNodes} query parameters`;
    return true;
  }
  for (const pair of pairs) {
    const key = PARAMETER.exec(pair);
    if (!key) continue;
    walk.fields.push({
      target: 'payload',
      location: `payload.query:${key[0].slice(0, -1)}`,
      text: pair.slice(key[0].length),
      derived: true,
    });
  }
  return true;
}

/** `key=value`, `key: value`, `SET key value`, and a log line's `<time> INFO key: value`. */
const LINE_FIELD =
  /^\s*(?:\S+\s+(?:trace|debug|info|notice|warn|warning|error|fatal)\s+)?(?:set\s+([\w.-]{1,64})\s+|([\w.-]{1,64})\s*[:=]\s*)(\S.*)$/i;

/** A word assigned after a space or comma (`22 and door=open`), not at the start (`X=1 cmd` runs cmd). */
const ASSIGNMENT = /[\s,][a-z_][\w.]{0,63}\s*(?:=|:(?!\/\/))/i;
/** Where a shell or a comment would end the value's first command. */
const COMMAND_END = /[;|&`#\n]|\$\(/;

/**
 * Adds the value of each `key=value` line of a text payload (configuration dumps, log lines,
 * console-style `SET key value`) as a field of its own, named by its key: an application reads the
 * value alone, so an injection that starts at the value's beginning is read in that context, as a
 * JSON string is, rather than after the key. At most `maxNodes` lines, as JSON nodes.
 */
function walkLines(text: string, maxNodes: number, walk: PayloadWalk): void {
  let fields = 0;
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf('\n', start);
    const stop = end === -1 ? text.length : end;
    // CRLF lines: the \r is not part of the value.
    const lineEnd = stop > start && text.charCodeAt(stop - 1) === 13 ? stop - 1 : stop;
    const found = lineEnd - start <= 8192 ? LINE_FIELD.exec(text.slice(start, lineEnd)) : null;
    start = stop + 1;
    if (!found) continue;
    const value = found[3]!;
    // A value that assigns again before any command end (`hour=22 and door=open`) is an expression
    // written as text, read whole only; a trailing `# x=1` or `; a=b` does not make a command one.
    const cut = value.search(COMMAND_END);
    const head = cut === -1 ? value : value.slice(0, cut);
    if (ASSIGNMENT.test(head)) continue;
    if (fields >= maxNodes) {
      walk.limit = `more than ${maxNodes} key=value lines`;
      return;
    }
    fields += 1;
    const key = (found[1] ?? found[2])!;
    walk.fields.push({
      target: 'payload',
      location: `payload.line:${key}`,
      text: value,
      member: key,
      derived: true,
    });
  }
}

/** The first byte that is not JSON whitespace opens an object, an array or a string. */
function startsLikeJson(payload: Buffer): boolean {
  for (const byte of withoutBom(payload)) {
    if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) continue;
    return byte === 0x7b || byte === 0x5b || byte === 0x22;
  }
  return false;
}

/** The payload's inspectable strings: JSON keys and string values, or the whole text and, for a query string, each value. */
export function payloadFields(payload: Buffer, limits: JsonScanLimits, maxTextChars: number): PayloadWalk {
  const walk: PayloadWalk = { fields: [], limit: null };
  if (!payloadIsUtf8(payload)) {
    // Not UTF-8: binary data is judged by size and entropy; text with a few stray bytes is still read.
    const lenient = payload.toString('latin1');
    if (mostlyPrintable(lenient))
      walk.fields.push({ target: 'payload', location: 'payload.binary', text: lenient });
    return walk;
  }
  if (startsLikeJson(payload)) {
    const json = payloadJson(payload, limits);
    if (json) {
      for (const found of json.strings) {
        const member = found.key ? undefined : found.member;
        walk.fields.push({
          target: 'payload',
          json: found,
          suffix: found.key ? '#key' : '',
          text: found.text,
          member,
        });
        if (found.key) continue;
        const unwrapped = base64Text(found.text);
        if (unwrapped !== null)
          walk.fields.push({ target: 'payload', json: found, suffix: '(base64)', text: unwrapped, member });
      }
      walk.limit = json.limit;
      return walk;
    }
  }
  const text = payloadTextUpTo(payload, maxTextChars)!;
  walk.fields.push({ target: 'payload', location: 'payload.text', text });
  // A query string's values are its fields; its `&` and `=` are no shell's or line's.
  if (!walkQuery(text, limits.maxNodes, walk)) walkLines(text, derivedFieldsMax(maxTextChars), walk);
  return walk;
}

function fieldsOf(event: PacketEvent, jsonLimits: JsonScanLimits, maxTextChars: number): PayloadWalk {
  const walk: PayloadWalk = { fields: [], limit: null };
  if (event.packetType === 'CONNECT') {
    walk.fields.push({ target: 'identity', location: 'clientId', text: event.clientId });
    if (event.username !== null)
      walk.fields.push({ target: 'identity', location: 'username', text: event.username });
  }
  if (event.topic !== null) walk.fields.push({ target: 'topic', location: 'topic', text: event.topic });
  event.subscriptions?.forEach((s, i) => {
    walk.fields.push({ target: 'topic', location: `subscriptions[${i}].topic`, text: s.topic });
  });
  if (event.packetType === 'PUBLISH' && event.payload !== null && event.payload.length > 0) {
    const payload = payloadFields(event.payload, jsonLimits, maxTextChars);
    walk.fields.push(...payload.fields);
    walk.limit = payload.limit;
  }
  return walk;
}

export function createPatternsStep(options: PatternsStepOptions): Step {
  const { policy } = options;
  const settings = policy.patterns;
  const rules = (options.rules ?? DEFAULT_RULES).filter(
    (rule) => rule.paranoia <= settings.paranoiaLevel && ruleDisposition(policy, rule.id, 'block').enabled,
  );
  const limits: DecodeLimits = { maxChars: settings.maxFieldChars, maxPasses: settings.maxDecodePasses };
  const scoreOf = (rule: CompiledRule) => settings.severityScores[rule.severity];
  const limitRule = ruleDisposition(policy, 'PAT-INSPECTION-LIMIT', 'quarantine');
  const jsonLimits = jsonScanLimits(policy);
  const overBudget = `more than ${settings.maxMessageChars} characters to inspect (${FIELD_COST} per field included)`;
  const derivedMax = derivedFieldsMax(settings.maxMessageChars);

  // Each distinct list of transforms is one reader: the text it makes, and one test of the
  // prefilter needles of all its rules. Most strings (numbers, names, states) contain none, which
  // that one test decides for all of them at once.
  const transformKey = (rule: CompiledRule) => rule.transforms.join('+');
  const readers = [...new Set(rules.map(transformKey))].map((key) => {
    const own = rules.filter((rule) => transformKey(rule) === key);
    const needles = [...new Set(own.flatMap((rule) => rule.prefilter))];
    return {
      key,
      transforms: own[0]!.transforms,
      gate: needles.length > 0 ? new RegExp(needles.map(escapeRegExp).join('|')) : null,
    };
  });
  // Per target, the rules grouped by reader, so a field allocates nothing per rule and a group's
  // prefiltered rules are skipped together when its needle test fails.
  interface RuleGroup {
    readonly reader: (typeof readers)[number];
    readonly gated: CompiledRule[];
    readonly ungated: CompiledRule[];
  }
  function groupRules(selected: readonly CompiledRule[]): Map<RuleTarget, RuleGroup[]> {
    const byTarget = new Map<RuleTarget, RuleGroup[]>();
    for (const rule of selected)
      for (const target of rule.targets) {
        const groups = byTarget.get(target) ?? [];
        let group = groups.find((g) => g.reader.key === transformKey(rule));
        if (!group) {
          group = { reader: readers.find((r) => r.key === transformKey(rule))!, gated: [], ungated: [] };
          groups.push(group);
        }
        (rule.prefilter.length > 0 ? group.gated : group.ungated).push(rule);
        byTarget.set(target, groups);
      }
    return byTarget;
  }
  const groupsByTarget = groupRules(rules);
  // A part re-read from a text (a query value, a line's value) is read only by the rules whose
  // answer depends on where the value starts: the token readers and anchored patterns. Any other
  // pattern that matches the part has matched the whole text already.
  const derivedGroupsByTarget = groupRules(
    rules.filter((rule) => rule.match.type !== 'regex' || /(?:^|\(\?:|\|)\^/.test(rule.match.pattern)),
  );

  /** Runs the rules over one chunk; true when decoding cut the chunk short. */
  function inspectText(field: InspectedField, text: string, hits: Map<string, RuleHit>): boolean {
    const { text: normal, truncated } = normalise(text, limits);
    const plan = field.derived ? derivedGroupsByTarget : groupsByTarget;
    for (const group of plan.get(field.target) ?? []) {
      let subject = normal;
      for (const name of group.reader.transforms) subject = TRANSFORM_FUNCTIONS[name](subject);
      const gateOpen = group.gated.length > 0 && group.reader.gate!.test(subject);
      if (gateOpen) for (const rule of group.gated) testRule(rule, field, subject, hits);
      for (const rule of group.ungated) testRule(rule, field, subject, hits);
    }
    return truncated;
  }

  function testRule(
    rule: CompiledRule,
    field: InspectedField,
    subject: string,
    hits: Map<string, RuleHit>,
  ): void {
    if (hits.has(rule.id)) return;
    const match = rule.test(subject, field.member);
    if (match)
      hits.set(rule.id, {
        rule,
        location: locationOf(field),
        evidence: excerpt(subject, Math.max(0, match.offset - 16)),
      });
  }

  return {
    name: 'patterns',
    process(event) {
      const walk = fieldsOf(event, jsonLimits, settings.maxMessageChars);
      const hits = new Map<string, RuleHit>();
      let budget = settings.maxMessageChars;
      let derivedLeft = derivedMax;
      let limit = walk.limit;
      for (const field of walk.fields) {
        let text = field.text;
        if (field.derived) {
          // A re-read part is counted, not charged: its characters were paid for with the text's.
          if (derivedLeft === 0) {
            limit = overBudget;
            continue;
          }
          derivedLeft -= 1;
        } else {
          if (budget <= 0) {
            limit = overBudget;
            break;
          }
          // A field longer than what is left is read up to the budget and the rest reported, never
          // dropped silently: padding a text past the budget must not hide what follows.
          if (text.length > budget) {
            limit = overBudget;
            text = text.slice(0, budget);
          }
          budget -= text.length + FIELD_COST;
        }
        // Long fields are read in overlapping chunks so that padding cannot push an attack past the cap.
        const step = settings.maxFieldChars - CHUNK_OVERLAP;
        for (let start = 0; start === 0 || start + CHUNK_OVERLAP < text.length; start += step) {
          // Decoding can lengthen a chunk past the field cap (NFKC turns U+FDFA into 18
          // characters): what it cuts off is reported like any unread part.
          if (inspectText(field, text.slice(start, start + settings.maxFieldChars), hits))
            limit = `decoding lengthened ${locationOf(field)} past ${settings.maxFieldChars} characters`;
        }
      }
      const findings: Finding[] = [];
      const byClass = new Map<PatternClass, RuleHit[]>();
      for (const hit of hits.values()) {
        const list = byClass.get(hit.rule.class) ?? [];
        list.push(hit);
        byClass.set(hit.rule.class, list);
      }
      for (const classHits of byClass.values()) {
        let total = 0;
        let enforced = 0;
        for (const hit of classHits) {
          total += scoreOf(hit.rule);
          if (!ruleDisposition(policy, hit.rule.id, settings.action).shadow) enforced += scoreOf(hit.rule);
        }
        if (total < settings.scoreThreshold) continue;
        for (const hit of classHits) {
          const disposition = ruleDisposition(policy, hit.rule.id, settings.action);
          findings.push({
            ruleId: hit.rule.id,
            class: hit.rule.class,
            stage: 'patterns',
            severity: hit.rule.severity,
            action: disposition.action,
            evidence: hit.evidence,
            location: boundedLocation(hit.location),
            // A rule that counts only because shadow rules lifted the score does not decide either.
            shadow: disposition.shadow || enforced < settings.scoreThreshold,
          });
        }
      }
      if (limit !== null && limitRule.enabled) {
        findings.push({
          ruleId: 'PAT-INSPECTION-LIMIT',
          class: 'payload-policy',
          stage: 'patterns',
          severity: 'medium',
          action: limitRule.action,
          evidence: excerpt(limit),
          location: 'payload',
          shadow: limitRule.shadow,
        });
      }
      return findings;
    },
  };
}
