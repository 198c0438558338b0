import type { Command } from 'commander';
import { SentinelError } from './errors.js';

/**
 * Twelve-factor configuration: every setting has one environment variable (SENTINEL_*), one CLI
 * flag, a default with its unit, and a parser that says what is allowed. Flags win over the
 * environment, the environment over defaults. A wrong value stops the service with SNT_CONFIG_INVALID
 * naming the setting, its variable and flag, the value and what is allowed.
 */
export interface Setting<T> {
  readonly env: string;
  readonly description: string;
  readonly default: T;
  /** Human text of what parse accepts, used in errors and --help. */
  readonly allowed: string;
  /** Returns the value, or a string saying why the raw text is not allowed. */
  readonly parse: (raw: string) => T | ParseRefusal;
  /** Shown in help; a secret's value is never printed. */
  readonly secret?: boolean;
}

export class ParseRefusal {
  constructor(readonly reason: string) {}
}

export type Schema = Record<string, Setting<unknown>>;
export type ConfigOf<S extends Schema> = {
  readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never;
};

const intPattern = /^-?\d+$/;

function parseInteger(raw: string, min: number, max: number): number | ParseRefusal {
  const text = raw.trim();
  if (!intPattern.test(text)) return new ParseRefusal('not a whole number');
  const value = Number(text);
  if (value < min || value > max) return new ParseRefusal(`out of range ${min}..${max}`);
  return value;
}

export const settings = {
  port(env: string, defaultValue: number, description: string): Setting<number> {
    return {
      env,
      description,
      default: defaultValue,
      allowed: 'a TCP port number 1-65535',
      parse: (raw) => parseInteger(raw, 1, 65535),
    };
  },
  int(
    env: string,
    defaultValue: number,
    description: string,
    range: { min: number; max: number; unit?: string },
  ): Setting<number> {
    const unit = range.unit ? ` (${range.unit})` : '';
    return {
      env,
      description: `${description}${unit}`,
      default: defaultValue,
      allowed: `a whole number ${range.min}..${range.max}${unit}`,
      parse: (raw) => parseInteger(raw, range.min, range.max),
    };
  },
  string(
    env: string,
    defaultValue: string,
    description: string,
    options: { secret?: boolean; pattern?: RegExp } = {},
  ): Setting<string> {
    const pattern = options.pattern;
    return {
      env,
      description,
      default: defaultValue,
      allowed: pattern ? `text matching ${pattern}` : 'any text',
      parse: (raw) => (pattern && !pattern.test(raw) ? new ParseRefusal(`does not match ${pattern}`) : raw),
      ...(options.secret ? { secret: true } : {}),
    };
  },
  oneOf<T extends string>(
    env: string,
    defaultValue: T,
    values: readonly T[],
    description: string,
  ): Setting<T> {
    return {
      env,
      description,
      default: defaultValue,
      allowed: `one of ${values.join(', ')}`,
      parse: (raw) =>
        (values as readonly string[]).includes(raw) ? (raw as T) : new ParseRefusal('not an allowed value'),
    };
  },
  bool(env: string, defaultValue: boolean, description: string): Setting<boolean> {
    return {
      env,
      description,
      default: defaultValue,
      allowed: 'true or false',
      parse: (raw) => {
        const text = raw.trim().toLowerCase();
        if (['true', '1', 'yes', 'on'].includes(text)) return true;
        if (['false', '0', 'no', 'off'].includes(text)) return false;
        return new ParseRefusal('not a boolean');
      },
    };
  },
  hostPorts(env: string, defaultValue: readonly string[], description: string): Setting<readonly string[]> {
    return {
      env,
      description,
      default: defaultValue,
      allowed: 'comma-separated host:port pairs',
      parse: (raw) => {
        const items = raw
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0);
        if (items.length === 0) return new ParseRefusal('empty list');
        for (const item of items) {
          const match = /^(.+):(\d+)$/.exec(item);
          const port = match ? Number(match[2]) : Number.NaN;
          if (!match || port < 1 || port > 65535) return new ParseRefusal(`"${item}" is not host:port`);
        }
        return items;
      },
    };
  },
  url(env: string, defaultValue: string, description: string, protocols: readonly string[]): Setting<string> {
    return {
      env,
      description,
      default: defaultValue,
      allowed: `a URL with scheme ${protocols.join(' or ')}`,
      parse: (raw) => {
        try {
          const url = new URL(raw);
          return protocols.includes(url.protocol.replace(/:$/, ''))
            ? raw
            : new ParseRefusal(`scheme ${url.protocol} not allowed`);
        } catch {
          return new ParseRefusal('not a URL');
        }
      },
    };
  },
} as const;

/** `SENTINEL_KAFKA_BROKERS` -> `--kafka-brokers`. */
export function flagOf(setting: Setting<unknown>): string {
  return `--${setting.env
    .replace(/^SENTINEL_/, '')
    .toLowerCase()
    .replaceAll('_', '-')}`;
}

/** Commander stores `--kafka-brokers` as `kafkaBrokers`. */
function optionKeyOf(setting: Setting<unknown>): string {
  return flagOf(setting)
    .slice(2)
    .replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** A setting's value as the CLI prints it: lists comma-separated, a secret never. */
export function shownValue(setting: Setting<unknown>, value: unknown): string {
  if (setting.secret) return '[secret]';
  return Array.isArray(value) ? value.join(',') : String(value);
}

/** Adds one flag per setting to a command, with the variable and default in its help line. */
export function addSettingFlags(command: Command, schema: Schema): Command {
  for (const setting of Object.values(schema)) {
    // Schemas share settings (the Redis URL, the topic prefix); each flag is added once.
    if (command.options.some((option) => option.long === flagOf(setting))) continue;
    command.option(
      `${flagOf(setting)} <value>`,
      `${setting.description} [${setting.env}, default ${shownValue(setting, setting.default)}]`,
    );
  }
  return command;
}

export interface ConfigSources {
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Commander's parsed options (camelCase keys, raw strings). */
  readonly flags?: Readonly<Record<string, unknown>>;
}

export function loadConfig<S extends Schema>(schema: S, sources: ConfigSources = {}): ConfigOf<S> {
  const env = sources.env ?? process.env;
  const flags = sources.flags ?? {};
  const result: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(schema)) {
    const fromFlag = flags[optionKeyOf(setting)];
    const raw = typeof fromFlag === 'string' ? fromFlag : env[setting.env];
    if (raw === undefined || raw === '') {
      result[key] = setting.default;
      continue;
    }
    const parsed = setting.parse(raw);
    if (parsed instanceof ParseRefusal) {
      const source = typeof fromFlag === 'string' ? flagOf(setting) : setting.env;
      const shown = setting.secret ? '[secret]' : JSON.stringify(raw);
      throw new SentinelError(
        'SNT_CONFIG_INVALID',
        `setting ${setting.env} (${flagOf(setting)}) from ${source}: ${shown} is ${parsed.reason}; allowed: ${setting.allowed}`,
      );
    }
    result[key] = parsed;
  }
  return result as ConfigOf<S>;
}

/** Edit distance (insertions, deletions, substitutions) between two names. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The known name closest to `name`, when close enough to be the one meant (a typo, a word swapped). */
export function nearestName(name: string, known: Iterable<string>): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  // A third of the name's length: a letter swapped or dropped, not an unrelated setting.
  return best && best.distance <= Math.max(2, Math.floor(name.length / 3)) ? best.name : undefined;
}

export interface SettingNames {
  /** Every variable some part of the platform reads. */
  readonly known: ReadonlySet<string>;
  /** Variables that used to act and no longer do, with what to do instead. */
  readonly retired?: Readonly<Record<string, string>>;
  /** Prefixes owned by tools around the platform (the demo's scripts), not checked. */
  readonly ownedPrefixes?: readonly string[];
}

/** SENTINEL_* variables set (an empty value counts as unset, as everywhere in this module), sorted. */
function setSentinelNames(env: Readonly<Record<string, string | undefined>>): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith('SENTINEL_') && (env[name] ?? '') !== '')
    .sort();
}

function retiredProblem(name: string, instead: string): string {
  return `setting ${name} is retired: ${instead}`;
}

/** Refuses retired settings still set, each named with what to do instead. */
export function refuseRetiredSettings(
  env: Readonly<Record<string, string | undefined>>,
  retired: Readonly<Record<string, string>>,
): void {
  const problems = setSentinelNames(env).flatMap((name) =>
    retired[name] === undefined ? [] : [retiredProblem(name, retired[name])],
  );
  if (problems.length > 0) throw new SentinelError('SNT_CONFIG_UNKNOWN', problems.join('; '));
}

/**
 * Refuses SENTINEL_* variables nothing reads: a typo would otherwise leave a setting at its default
 * while the operator believes it set. Each is named with the nearest known name; a retired one
 * with what replaced it.
 */
export function refuseUnknownSettings(
  env: Readonly<Record<string, string | undefined>>,
  names: SettingNames,
): void {
  const problems: string[] = [];
  for (const name of setSentinelNames(env)) {
    if (names.known.has(name) || names.ownedPrefixes?.some((prefix) => name.startsWith(prefix))) continue;
    const retired = names.retired?.[name];
    if (retired !== undefined) {
      problems.push(retiredProblem(name, retired));
      continue;
    }
    const nearest = nearestName(name, names.known);
    problems.push(`unknown setting ${name}${nearest ? ` (did you mean ${nearest}?)` : ''}`);
  }
  if (problems.length > 0) throw new SentinelError('SNT_CONFIG_UNKNOWN', problems.join('; '));
}

/** Names every SENTINEL_* variable in the environment that no schema knows, so typos do not pass silently. */
export function unknownEnvNames(
  env: Readonly<Record<string, string | undefined>>,
  schemas: readonly Schema[],
): string[] {
  const known = new Set<string>(['SENTINEL_LOG_LEVEL']);
  for (const schema of schemas) for (const setting of Object.values(schema)) known.add(setting.env);
  return Object.keys(env)
    .filter((name) => name.startsWith('SENTINEL_') && !known.has(name))
    .sort();
}
