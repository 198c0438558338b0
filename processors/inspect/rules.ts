import { SentinelError } from '../../lib/errors.js';
import type { FindingClass, Severity } from '../model.js';
import defaultRulesFile from '../rules/default-rules.json' with { type: 'json' };
import { detectShellInjection } from './shell.js';
import { detectSqli } from './sqli.js';

/**
 * Pattern rules are data (`rules/default-rules.json`): an operator reads and extends them without
 * touching code. A rule matches decoded, lower-cased text, optionally after named transforms (the
 * CRS `t:` idea); its regular expression is checked at load time so that no rule can backtrack
 * catastrophically.
 */
export type PatternClass = Extract<FindingClass, 'sqli' | 'xss' | 'command-injection' | 'path-traversal'>;
export type TransformName = 'sqlComments' | 'shell' | 'pathSlashes';
/** What a rule looks at: payload strings (JSON keys and values, or text), the topic, client id and username. */
export type RuleTarget = 'payload' | 'topic' | 'identity';

export type RuleMatchSpec =
  | { readonly type: 'regex'; readonly pattern: string }
  | { readonly type: 'sqli-tokens' }
  | { readonly type: 'shell-tokens' };

export interface PatternRule {
  readonly id: string;
  readonly class: PatternClass;
  readonly severity: Severity;
  readonly paranoia: number;
  readonly description: string;
  readonly match: RuleMatchSpec;
  readonly transforms: readonly TransformName[];
  readonly targets: readonly RuleTarget[];
  /** The rule runs only when the text contains one of these; empty means always. */
  readonly prefilter: readonly string[];
}

export interface CompiledRule extends PatternRule {
  /**
   * Start offset and excerpt of the first match in `text`, or null. `member` is the JSON member
   * name when the text is a string value inside an object, for rules that read a value by what it
   * is named.
   */
  test(text: string, member?: string): { offset: number; length: number } | null;
}

const CLASSES: readonly string[] = ['sqli', 'xss', 'command-injection', 'path-traversal'];
const SEVERITIES: readonly string[] = ['critical', 'high', 'medium', 'low'];
const TRANSFORMS: readonly string[] = ['sqlComments', 'shell', 'pathSlashes'];
const TARGETS: readonly string[] = ['payload', 'topic', 'identity'];
const ALL_TARGETS: readonly RuleTarget[] = ['payload', 'topic', 'identity'];

function refuse(source: string, path: string, reason: string): never {
  throw new SentinelError('SNT_CONFIG_INVALID', `rules ${source}: ${path} ${reason}`);
}

/**
 * Why a pattern could backtrack without bound, or null. Refused: a quantified group that itself
 * contains a quantifier (star height above one, e.g. `(a+)+`, `(\w*\s?)*`), and backreferences.
 * Inputs are capped (patterns.maxFieldChars), so the remaining polynomial cases are bounded; rules
 * should still bound gaps with {0,N} rather than `*` between two overlapping parts.
 */
export function catastrophicBacktrackingRisk(pattern: string): string | null {
  // Per open group: does it contain a quantifier so far?
  const groupHasQuantifier: boolean[] = [];
  let inClass = false;
  for (let i = 0; i < pattern.length; i += 1) {
    const ch = pattern[i];
    if (ch === '\\') {
      if (!inClass && /[1-9]/.test(pattern[i + 1] ?? '')) return `backreference \\${pattern[i + 1]} at ${i}`;
      if (!inClass && pattern[i + 1] === 'k') return `named backreference at ${i}`;
      i += 1;
      continue;
    }
    if (inClass) {
      if (ch === ']') inClass = false;
      continue;
    }
    if (ch === '[') {
      inClass = true;
      continue;
    }
    if (ch === '(') {
      groupHasQuantifier.push(false);
      continue;
    }
    const quantifierAt = (at: number) => {
      const q = pattern[at];
      if (q === '*' || q === '+') return true;
      if (q === '{') return /^\{\d+(,\d*)?\}/.test(pattern.slice(at));
      return false;
    };
    if (ch === ')') {
      const inner = groupHasQuantifier.pop() ?? false;
      const repeated = quantifierAt(i + 1);
      // An exact count ({2}) is plain repetition and cannot multiply backtracking paths.
      if (inner && repeated && !/^\{\d+\}/.test(pattern.slice(i + 1))) {
        return `quantified group containing a quantifier ending at ${i}`;
      }
      if (inner || repeated) {
        if (groupHasQuantifier.length > 0) groupHasQuantifier[groupHasQuantifier.length - 1] = true;
      }
      continue;
    }
    if (quantifierAt(i) && groupHasQuantifier.length > 0)
      groupHasQuantifier[groupHasQuantifier.length - 1] = true;
  }
  return null;
}

/** Every token shape detectSqli knows needs one of these; text without them is not tokenized at all. */
const SQL_SIGNS =
  /\b(?:and|or|xor)\b|['"`(;=<>#|&-]|\/\*|union|select|order|group|having|limit|procedure|like|regexp|between|\bin\b|\bis\b|drop|insert|delete|update|exec|declare|shutdown|waitfor|grant|create|alter|truncate/;

function compileMatcher(rule: PatternRule, source: string, path: string): CompiledRule['test'] {
  if (rule.match.type === 'shell-tokens') {
    return (text, member) => {
      const found = detectShellInjection(text, member);
      return found ? { offset: found.offset, length: 60 } : null;
    };
  }
  if (rule.match.type === 'sqli-tokens') {
    return (text) => {
      if (!SQL_SIGNS.test(text)) return null;
      const found = detectSqli(text);
      return found ? { offset: found.offset, length: 60 } : null;
    };
  }
  const risk = catastrophicBacktrackingRisk(rule.match.pattern);
  if (risk) refuse(source, `${path}.match.pattern`, `could backtrack catastrophically: ${risk}`);
  let regex: RegExp;
  try {
    // Text is lower-cased before matching, so rules are written in lower case and need no 'i' flag.
    regex = new RegExp(rule.match.pattern);
  } catch (cause) {
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      `rules ${source}: ${path}.match.pattern is not a valid regular expression`,
      { cause },
    );
  }
  const prefilter = rule.prefilter;
  return (text) => {
    if (prefilter.length > 0 && !prefilter.some((needle) => text.includes(needle))) return null;
    const m = regex.exec(text);
    return m ? { offset: m.index, length: Math.max(m[0].length, 1) } : null;
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringList(value: unknown, allowed: readonly string[], source: string, path: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || !allowed.includes(v))) {
    refuse(source, path, `must be a list of ${allowed.join(', ')}`);
  }
  return value as string[];
}

function prefilterList(value: unknown, source: string, path: string): string[] {
  if (
    !Array.isArray(value) ||
    value.some((v) => typeof v !== 'string' || v === '' || v !== v.toLowerCase())
  ) {
    refuse(source, path, 'must be a list of non-empty lower-case strings');
  }
  return value as string[];
}

const RULE_KEYS = [
  'id',
  'class',
  'severity',
  'paranoia',
  'description',
  'match',
  'prefilter',
  'transforms',
  'targets',
];

/** Parses and compiles a rules document; throws SNT_CONFIG_INVALID naming the first wrong rule field. */
export function compileRules(document: unknown, source: string): CompiledRule[] {
  if (!isObject(document) || !Array.isArray(document.rules))
    refuse(source, '(root)', 'must be an object with a rules array');
  const seen = new Set<string>();
  return document.rules.map((raw, index) => {
    const path = `rules[${index}]`;
    if (!isObject(raw)) refuse(source, path, 'must be an object');
    for (const key of Object.keys(raw))
      if (!RULE_KEYS.includes(key))
        refuse(source, `${path}.${key}`, `is not a rule field (known: ${RULE_KEYS.join(', ')})`);
    const id = raw.id;
    if (typeof id !== 'string' || !/^[A-Z][A-Z0-9-]{2,40}$/.test(id))
      refuse(source, `${path}.id`, 'must be an upper-case id such as SQLI-942100');
    if (seen.has(id)) refuse(source, `${path}.id`, `${id} is used twice`);
    seen.add(id);
    if (typeof raw.class !== 'string' || !CLASSES.includes(raw.class))
      refuse(source, `${path}.class`, `must be one of ${CLASSES.join(', ')}`);
    if (typeof raw.severity !== 'string' || !SEVERITIES.includes(raw.severity))
      refuse(source, `${path}.severity`, `must be one of ${SEVERITIES.join(', ')}`);
    const paranoia = raw.paranoia ?? 1;
    if (typeof paranoia !== 'number' || !Number.isInteger(paranoia) || paranoia < 1 || paranoia > 4)
      refuse(source, `${path}.paranoia`, 'must be 1..4');
    if (typeof raw.description !== 'string' || raw.description === '')
      refuse(source, `${path}.description`, 'must say what the rule detects');
    const match = raw.match;
    let spec: RuleMatchSpec;
    if (
      isObject(match) &&
      match.type === 'regex' &&
      typeof match.pattern === 'string' &&
      Object.keys(match).length === 2
    ) {
      spec = { type: 'regex', pattern: match.pattern };
    } else if (isObject(match) && match.type === 'sqli-tokens' && Object.keys(match).length === 1) {
      spec = { type: 'sqli-tokens' };
    } else if (isObject(match) && match.type === 'shell-tokens' && Object.keys(match).length === 1) {
      spec = { type: 'shell-tokens' };
    } else
      refuse(
        source,
        `${path}.match`,
        'must be {"type":"regex","pattern":"..."}, {"type":"sqli-tokens"} or {"type":"shell-tokens"}',
      );
    const rule: PatternRule = {
      id,
      class: raw.class as PatternClass,
      severity: raw.severity as Severity,
      paranoia,
      description: raw.description,
      match: spec,
      transforms:
        raw.transforms === undefined
          ? []
          : (stringList(raw.transforms, TRANSFORMS, source, `${path}.transforms`) as TransformName[]),
      targets:
        raw.targets === undefined
          ? ALL_TARGETS
          : (stringList(raw.targets, TARGETS, source, `${path}.targets`) as RuleTarget[]),
      prefilter: raw.prefilter === undefined ? [] : prefilterList(raw.prefilter, source, `${path}.prefilter`),
    };
    return { ...rule, test: compileMatcher(rule, source, path) };
  });
}

export const DEFAULT_RULES: readonly CompiledRule[] = compileRules(defaultRulesFile, 'default-rules.json');

/** The rules file text (e.g. an operator's extended copy), compiled. */
export function rulesFromText(text: string, source: string): CompiledRule[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (cause) {
    throw new SentinelError('SNT_CONFIG_INVALID', `rules ${source}: not valid JSON`, { cause });
  }
  return compileRules(document, source);
}

const braceExpansion = /\{([a-z/][^{},\s]{0,30}),([^{}]{0,200})\}/g;

/** Rule transforms over normalised text; each is one linear pass. */
export const TRANSFORM_FUNCTIONS: Readonly<Record<TransformName, (text: string) => string>> = {
  // MySQL treats /* ... */ as whitespace, so 'union/**/select' is 'union select'.
  sqlComments: (text) => (text.includes('/*') ? text.replace(/\/\*!?\d{0,6}|\*\//g, ' ') : text),
  // The shell drops quotes and backslashes inside words (c'a't, c\at), $@ expands to nothing,
  // $IFS to a space and {cat,/etc/passwd} to 'cat /etc/passwd'.
  shell: (text) =>
    !/["'\\${]/.test(text)
      ? text
      : text
          .replace(/["'\\]|\$@|\$\*/g, '')
          .replace(/\$\{ifs\}|\$ifs(?:\$\d)?/g, ' ')
          .replace(braceExpansion, ';$1 $2'),
  // Windows and filters that strip '../' once: '..\\', '....//', '..;/' all walk up a level.
  pathSlashes: (text) =>
    text.includes('\\') || text.includes('..') || text.includes('//')
      ? text
          .replaceAll('\\', '/')
          .replace(/\/{2,}/g, '/')
          .replace(/\.{2,};?\//g, '../')
          // `./` steps change nothing on the way up: `.././../` is `../../`.
          .replace(/(^|\/)(?:\.\/)+/g, '$1')
      : text,
};
