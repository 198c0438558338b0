import { type DecodeLimits, normalise } from '../inspect/decode.js';
import { payloadJson, payloadText } from '../inspect/payload-json.js';
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

interface InspectedField {
  readonly target: RuleTarget;
  readonly location: string;
  readonly text: string;
}

interface RuleHit {
  readonly rule: CompiledRule;
  readonly location: string;
  readonly evidence: string;
}

const CHUNK_OVERLAP = 256;

function escapeRegExp(literal: string): string {
  return literal.replace(/[.*+?^${}()|[\]\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}
const utf8 = new TextDecoder('utf-8', { fatal: true });

function jsonPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

interface PayloadWalk {
  readonly fields: InspectedField[];
  /** Why part of the payload was not inspected, or null. */
  limit: string | null;
}

/** Collects JSON keys and string values depth-first, iteratively, within the depth and node caps. */
function walkJson(root: unknown, maxDepth: number, maxNodes: number, walk: PayloadWalk): void {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [
    { value: root, path: '$', depth: 0 },
  ];
  let nodes = 0;
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    nodes += 1;
    if (nodes > maxNodes) {
      walk.limit = `more than ${maxNodes} JSON nodes`;
      return;
    }
    if (typeof value === 'string') {
      walk.fields.push({ target: 'payload', location: `payload.json:${path}`, text: value });
      const unwrapped = base64Text(value);
      if (unwrapped !== null)
        walk.fields.push({ target: 'payload', location: `payload.json:${path}(base64)`, text: unwrapped });
    } else if (typeof value === 'object' && value !== null) {
      if (depth >= maxDepth) {
        walk.limit = `JSON nested deeper than ${maxDepth}`;
        continue;
      }
      if (Array.isArray(value)) {
        for (let i = value.length - 1; i >= 0; i -= 1)
          stack.push({ value: value[i], path: jsonPath(path, i), depth: depth + 1 });
      } else {
        const entries = Object.entries(value as Record<string, unknown>);
        for (let i = entries.length - 1; i >= 0; i -= 1) {
          const [key, child] = entries[i]!;
          const childPath = jsonPath(path, key);
          walk.fields.push({ target: 'payload', location: `payload.json:${childPath}#key`, text: key });
          stack.push({ value: child, path: childPath, depth: depth + 1 });
        }
      }
    }
  }
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
 * Adds each value of a query string or form body (`GET /q?zone=7&id=1`, `a=1&b=2`), as devices send
 * through HTTP bridges, as a field of its own: an application pastes each into SQL or a shell on
 * its own, so each is read in its own contexts, as each JSON string is. A `?` starts the query only
 * when no `=` or `&` comes before it, and it takes two parameters or more (a lone `hour=22 and
 * door=open` is a rule written in text, read whole). Split before any decoding, by hand: an encoded
 * `%26` stays inside its value, and the lenient decoder still sees `%c0%af` (URLSearchParams would
 * make invalid UTF-8 U+FFFD). At most `maxNodes` parameters, as JSON nodes.
 */
function walkQuery(text: string, maxNodes: number, walk: PayloadWalk): void {
  const mark = text.indexOf('?');
  const before = mark === -1 ? '' : text.slice(0, mark);
  const query = mark !== -1 && !before.includes('=') && !before.includes('&') ? text.slice(mark + 1) : text;
  if (!query.includes('&') || !PARAMETER.test(query)) return;
  // Split no further than the cap: a text of '&' alone must not become an array of its length.
  const pairs = query.split('&', maxNodes + 1);
  if (pairs.length > maxNodes) {
    walk.limit = `more than ${maxNodes} query parameters`;
    return;
  }
  for (const pair of pairs) {
    const key = PARAMETER.exec(pair);
    if (!key) continue;
    walk.fields.push({
      target: 'payload',
      location: `payload.query:${key[0].slice(0, -1)}`,
      text: pair.slice(key[0].length),
    });
  }
}

/** The payload's inspectable strings: JSON keys and string values, or the whole text and, for a query string, each value. */
export function payloadFields(payload: Buffer, maxDepth: number, maxNodes: number): PayloadWalk {
  const walk: PayloadWalk = { fields: [], limit: null };
  const text = payloadText(payload);
  if (text === null) {
    // Not UTF-8: binary data is judged by size and entropy; text with a few stray bytes is still read.
    const lenient = payload.toString('latin1');
    if (mostlyPrintable(lenient))
      walk.fields.push({ target: 'payload', location: 'payload.binary', text: lenient });
    return walk;
  }
  const first = text.trimStart()[0];
  if (first === '{' || first === '[' || first === '"') {
    const json = payloadJson(payload);
    if (json) {
      walkJson(json.value, maxDepth, maxNodes, walk);
      return walk;
    }
  }
  walk.fields.push({ target: 'payload', location: 'payload.text', text });
  walkQuery(text, maxNodes, walk);
  return walk;
}

function fieldsOf(event: PacketEvent, policy: Policy): PayloadWalk {
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
    const payload = payloadFields(event.payload, policy.patterns.maxJsonDepth, policy.patterns.maxJsonNodes);
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

  // Most strings (numbers, names, states) contain none of the rules' prefilter needles: one test of
  // all needles of the rules that read the same transformed text decides that for all of them at once.
  const needlesByTransforms = new Map<string, Set<string>>();
  for (const rule of rules) {
    if (rule.prefilter.length === 0) continue;
    const key = rule.transforms.join('+');
    const needles = needlesByTransforms.get(key) ?? new Set<string>();
    for (const needle of rule.prefilter) needles.add(escapeRegExp(needle));
    needlesByTransforms.set(key, needles);
  }
  const needleGates = new Map(
    [...needlesByTransforms].map(([key, needles]) => [key, new RegExp([...needles].join('|'))]),
  );

  // Per target, the rules that read it, each with the key of the text it reads (its transforms).
  const plansByTarget = new Map<RuleTarget, Array<{ rule: CompiledRule; key: string }>>();
  for (const rule of rules)
    for (const target of rule.targets) {
      const plans = plansByTarget.get(target) ?? [];
      plans.push({ rule, key: rule.transforms.join('+') });
      plansByTarget.set(target, plans);
    }

  function inspectText(field: InspectedField, text: string, hits: Map<string, RuleHit>): void {
    const { text: normal } = normalise(text, limits);
    const subjects = new Map<string, string>([['', normal]]);
    const gateOpen = new Map<string, boolean>();
    for (const { rule, key } of plansByTarget.get(field.target) ?? []) {
      if (hits.has(rule.id)) continue;
      let subject = subjects.get(key);
      if (subject === undefined) {
        subject = normal;
        for (const name of rule.transforms) subject = TRANSFORM_FUNCTIONS[name](subject);
        subjects.set(key, subject);
      }
      if (rule.prefilter.length > 0) {
        let open = gateOpen.get(key);
        if (open === undefined) {
          open = needleGates.get(key)!.test(subject);
          gateOpen.set(key, open);
        }
        if (!open) continue;
      }
      const match = rule.test(subject);
      if (match) {
        hits.set(rule.id, {
          rule,
          location: field.location,
          evidence: excerpt(subject, Math.max(0, match.offset - 16)),
        });
      }
    }
  }

  return {
    name: 'patterns',
    process(event) {
      const walk = fieldsOf(event, policy);
      const hits = new Map<string, RuleHit>();
      let budget = settings.maxMessageChars;
      let limit = walk.limit;
      for (const field of walk.fields) {
        if (budget <= 0) {
          limit = `more than ${settings.maxMessageChars} characters to inspect`;
          break;
        }
        const text = field.text.length > budget ? field.text.slice(0, budget) : field.text;
        budget -= text.length;
        // Long fields are read in overlapping chunks so that padding cannot push an attack past the cap.
        const step = settings.maxFieldChars - CHUNK_OVERLAP;
        for (let start = 0; start === 0 || start + CHUNK_OVERLAP < text.length; start += step) {
          inspectText(field, text.slice(start, start + settings.maxFieldChars), hits);
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
          if (!ruleDisposition(policy, hit.rule.id, 'block').shadow) enforced += scoreOf(hit.rule);
        }
        if (total < settings.scoreThreshold) continue;
        for (const hit of classHits) {
          const disposition = ruleDisposition(policy, hit.rule.id, 'block');
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
