import { SentinelError } from '../../lib/errors.js';
import type { FindingAction, Mode } from '../model.js';
import { ADMISSION_RULES } from '../steps/admission.js';
import defaultPolicyFile from './default-policy.json' with { type: 'json' };

/** Rules no policy can change (see steps/admission.ts). */
const FINAL_RULES: ReadonlySet<string> = new Set(Object.values(ADMISSION_RULES));

/**
 * The policy an operator edits: global mode, per-rule action / shadow / enabled, and the settings of
 * each step. `default-policy.json` beside this file is the full default and is what an operator copies;
 * a policy file may give only the keys it changes. Unknown keys are refused, naming their path.
 */
export interface RuleOverride {
  readonly action?: FindingAction;
  readonly shadow?: boolean;
  readonly enabled?: boolean;
}

export interface PayloadRule {
  /** MQTT topic filter ('+' and '#' wildcards); the first rule whose filter matches applies. */
  readonly topic: string;
  /** Payload formats allowed on these topics: 'json', 'text' (UTF-8), 'binary' (anything). */
  readonly formats: readonly PayloadFormat[];
  /** Largest payload allowed on these topics, in bytes. */
  readonly maxBytes: number;
  /**
   * High entropy is expected here (firmware images, compressed or encrypted blobs): the entropy
   * detector does not judge these topics. When a policy file leaves it out, a rule whose formats are
   * only `binary` is exempt and any rule allowing json or text is judged (a text topic carrying
   * encrypted data is the case the detector exists for).
   */
  readonly entropyExempt: boolean;
}

export type PayloadFormat = 'json' | 'text' | 'binary';

export interface Policy {
  readonly mode: Mode;
  readonly rules: Readonly<Record<string, RuleOverride>>;
  readonly patterns: {
    /**
     * What a detected injection asks for unless its rule says otherwise: block (the default), or
     * quarantine to hold such messages for an operator's review (the console), or flag.
     */
    readonly action: FindingAction;
    /** Rules with a paranoia level above this are not run (CRS paranoia levels 1-4). */
    readonly paranoiaLevel: number;
    /** Per class, the sum of matched rule scores at which the class counts as detected. */
    readonly scoreThreshold: number;
    readonly severityScores: {
      readonly critical: number;
      readonly high: number;
      readonly medium: number;
      readonly low: number;
    };
    /** Characters decoded and matched per string field. */
    readonly maxFieldChars: number;
    /** Characters inspected per message over all fields; beyond it the message is reported as truncated. */
    readonly maxMessageChars: number;
    readonly maxDecodePasses: number;
    /** JSON nesting inspected; deeper payloads are reported. */
    readonly maxJsonDepth: number;
    /** JSON keys + values inspected per message. */
    readonly maxJsonNodes: number;
  };
  readonly validation: {
    /** Topic names devices may publish to; '{clientId}' is replaced by the sender's client id. */
    readonly publishTemplates: readonly string[];
    /** Topic filters devices may subscribe to, same templates. */
    readonly subscribeTemplates: readonly string[];
    readonly maxTopicLength: number;
    readonly maxTopicLevels: number;
    /** Characters allowed in a topic level. */
    readonly topicLevelPattern: string;
    readonly payloadRules: readonly PayloadRule[];
    /** Applies when no payload rule matches. */
    readonly defaultPayloadRule: Omit<PayloadRule, 'topic'>;
  };
  readonly anomaly: {
    /** Messages a device must have sent before its baselines are used. */
    readonly warmupMessages: number;
    /** Time since a device's first message before its baselines are used, in ms. */
    readonly warmupMs: number;
    /** Length of the rate-counting window, in ms. */
    readonly rateWindowMs: number;
    /** EWMA weight of the newest window (0..1). */
    readonly rateAlpha: number;
    /** A window above baseline x this factor is an anomaly. */
    readonly rateFactor: number;
    /** Below this many messages per window nothing is a rate anomaly. */
    readonly rateMinPerWindow: number;
    /** Per-device messages per second that are an anomaly even during warm-up. */
    readonly rateAbsolutePerSecond: number;
    /** Payloads above this are quarantined whatever the baseline, in bytes (seed: 10 KB). */
    readonly sizeAbsoluteMaxBytes: number;
    /** A payload above baseline mean x this factor is an anomaly. */
    readonly sizeFactor: number;
    /** Below this size nothing is a size anomaly against the baseline, in bytes. */
    readonly sizeMinBytes: number;
    /** Shannon entropy above this is flagged, bits per byte (seed: 7.5). */
    readonly entropyMaxBitsPerByte: number;
    /** Payloads shorter than this are not judged by entropy, in bytes. */
    readonly entropyMinBytes: number;
    /** Window for auth-failure and connection counting, in ms. */
    readonly burstWindowMs: number;
    readonly authFailuresPerIp: number;
    readonly authFailuresPerClientId: number;
    /** CONNECTs per second from one source address that are an anomaly (seed: 100). */
    readonly connectionsPerSourcePerSecond: number;
  };
}

const ACTIONS: readonly string[] = ['block', 'quarantine', 'flag'];
const MODES: readonly string[] = ['enforce', 'shadow'];
const FORMATS: readonly string[] = ['json', 'text', 'binary'];

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

function refuse(source: string, path: string, reason: string): never {
  throw new SentinelError('SNT_CONFIG_INVALID', `policy ${source}: ${path || '(root)'} ${reason}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks `value` against the shape of `template` (same keys, same JSON types) and fills missing
 * keys from `base`. Enumerations and item shapes that the template cannot express are checked by name.
 */
function check(template: Json, base: Json | undefined, value: unknown, path: string, source: string): Json {
  if (value === undefined) return base ?? template;
  if (Array.isArray(template)) {
    if (!Array.isArray(value)) refuse(source, path, 'must be an array');
    return value.map((item, index) => checkItem(path, item, `${path}[${index}]`, source));
  }
  if (isObject(template)) {
    if (!isObject(value)) refuse(source, path, 'must be an object');
    if (path === 'rules') return checkRuleOverrides(value, source);
    const baseObject = isObject(base) ? (base as Record<string, Json>) : undefined;
    const out: Record<string, Json> = {};
    for (const key of Object.keys(value)) {
      if (!(key in template))
        refuse(
          source,
          path ? `${path}.${key}` : key,
          `is not a known setting (known: ${Object.keys(template).join(', ')})`,
        );
    }
    for (const [key, templateValue] of Object.entries(template)) {
      out[key] = check(templateValue, baseObject?.[key], value[key], path ? `${path}.${key}` : key, source);
    }
    return out;
  }
  if (typeof template === 'number') {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      refuse(source, path, 'must be a non-negative number');
    return value;
  }
  if (typeof template === 'boolean') {
    if (typeof value !== 'boolean') refuse(source, path, 'must be true or false');
    return value;
  }
  if (typeof value !== 'string') refuse(source, path, 'must be a string');
  if (path === 'mode' && !MODES.includes(value)) refuse(source, path, `must be one of ${MODES.join(', ')}`);
  return value;
}

function checkItem(arrayPath: string, item: unknown, path: string, source: string): Json {
  if (arrayPath === 'validation.payloadRules') {
    const template = DEFAULT_PAYLOAD_RULE_SHAPE;
    const rule = checkPayloadRule(check(template, undefined, item, path, source), path, source, true);
    if (isObject(rule) && isObject(item) && !('entropyExempt' in item) && Array.isArray(rule.formats))
      rule.entropyExempt = !rule.formats.some((format) => format === 'json' || format === 'text');
    return rule;
  }
  if (typeof item !== 'string') refuse(source, path, 'must be a string');
  return item;
}

const DEFAULT_PAYLOAD_RULE_SHAPE: Json = { topic: '', formats: [], maxBytes: 0, entropyExempt: false };

function checkPayloadRule(rule: Json, path: string, source: string, needsTopic: boolean): Json {
  if (!isObject(rule)) return rule;
  if (needsTopic && (typeof rule.topic !== 'string' || rule.topic === ''))
    refuse(source, `${path}.topic`, 'must be a topic filter');
  const formats = rule.formats;
  if (!Array.isArray(formats) || formats.length === 0)
    refuse(source, `${path}.formats`, `must list at least one of ${FORMATS.join(', ')}`);
  formats.forEach((format, index) => {
    if (typeof format !== 'string' || !FORMATS.includes(format))
      refuse(source, `${path}.formats[${index}]`, `must be one of ${FORMATS.join(', ')}`);
  });
  return rule;
}

function checkRuleOverrides(value: Record<string, unknown>, source: string): Json {
  const out: Record<string, Json> = {};
  for (const [ruleId, override] of Object.entries(value)) {
    const path = `rules.${ruleId}`;
    if (FINAL_RULES.has(ruleId))
      refuse(
        source,
        path,
        'is not policy: edge refusals and the session ACL always block, in shadow mode too',
      );
    if (!isObject(override)) refuse(source, path, 'must be an object with action, shadow or enabled');
    const entry: Record<string, Json> = {};
    for (const [key, setting] of Object.entries(override)) {
      if (key === 'action') {
        if (typeof setting !== 'string' || !ACTIONS.includes(setting))
          refuse(source, `${path}.action`, `must be one of ${ACTIONS.join(', ')}`);
        entry.action = setting;
      } else if (key === 'shadow' || key === 'enabled') {
        if (typeof setting !== 'boolean') refuse(source, `${path}.${key}`, 'must be true or false');
        entry[key] = setting;
      } else refuse(source, `${path}.${key}`, 'is not a known setting (known: action, shadow, enabled)');
    }
    out[ruleId] = entry;
  }
  return out;
}

/**
 * Parses a policy document over `base` (the defaults when null: the document must then be complete).
 * Throws SNT_CONFIG_INVALID naming the path of the first wrong key.
 */
export function parsePolicy(document: unknown, source: string, base: Policy | null): Policy {
  const template = (base ?? document) as Json;
  const checked = check(template, (base as Json | null) ?? undefined, document, '', source);
  const policy = checked as unknown as Policy;
  checkPayloadRule(
    policy.validation.defaultPayloadRule as unknown as Json,
    'validation.defaultPayloadRule',
    source,
    false,
  );
  if (policy.anomaly.rateAlpha > 1) refuse(source, 'anomaly.rateAlpha', 'must be between 0 and 1');
  if (!ACTIONS.includes(policy.patterns.action))
    refuse(source, 'patterns.action', `must be one of ${ACTIONS.join(', ')}`);
  if (policy.patterns.paranoiaLevel < 1 || policy.patterns.paranoiaLevel > 4)
    refuse(source, 'patterns.paranoiaLevel', 'must be 1..4');
  try {
    new RegExp(policy.validation.topicLevelPattern, 'u');
  } catch (cause) {
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      `policy ${source}: validation.topicLevelPattern is not a valid regular expression`,
      { cause },
    );
  }
  return policy;
}

/** A policy file's contents over the defaults. */
export function policyFromText(text: string, source: string, base: Policy = DEFAULT_POLICY): Policy {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (cause) {
    throw new SentinelError('SNT_CONFIG_INVALID', `policy ${source}: not valid JSON`, { cause });
  }
  return parsePolicy(document, source, base);
}

/** Per-rule action and shadow flag after the policy: global shadow mode makes every finding shadow. */
export function ruleDisposition(
  policy: Policy,
  ruleId: string,
  defaultAction: FindingAction,
): { action: FindingAction; shadow: boolean; enabled: boolean } {
  const override = policy.rules[ruleId];
  return {
    action: override?.action ?? defaultAction,
    shadow: policy.mode === 'shadow' || override?.shadow === true,
    enabled: override?.enabled !== false,
  };
}

// Declared last: parsing the file uses the constants above.
export const DEFAULT_POLICY: Policy = parsePolicy(defaultPolicyFile, 'default-policy.json', null);
