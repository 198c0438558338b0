import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { hashPassword, verifyPassword } from '../ingest/auth/password.js';
import { SentinelError } from '../lib/errors.js';
import type { Principal, Role } from './model.js';

/**
 * Who may use the console. Two kinds of credentials, both kept in files an administrator owns:
 *
 * - operator accounts (`operators.json`): a name, a role and an scrypt hash of the password (the
 *   same hashing as device passwords, ingest/auth/password.ts); for people in a browser, who get a
 *   session cookie and a CSRF token;
 * - bearer tokens (`tokens`): `<name> <role> <token>` per line, for the CLI and scripts. Only a
 *   SHA-256 of each token is kept in memory, compared in constant time.
 *
 * Roles: `viewer` reads everything; `operator` also decides.
 */
export interface OperatorAccount {
  readonly name: string;
  readonly role: Role;
  readonly passwordHash: string;
}

const namePattern = /^[A-Za-z0-9._@-]{1,64}$/;

/**
 * Operators sign in a few times a day, devices reconnect by the thousand: an operator's password
 * gets 16x the work of a device's (N=2^15, 32 MiB, about 0.1 s here), which a guesser pays too.
 */
export const operatorScryptParams = { log2N: 15, r: 8, p: 1 } as const;
export const MIN_TOKEN_CHARS = 24;

export function isRole(value: string): value is Role {
  return value === 'viewer' || value === 'operator';
}

export function readOperators(path: string): OperatorAccount[] {
  if (!existsSync(path)) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      `operators file ${path} is not JSON: ${(err as Error).message}`,
    );
  }
  const list = (parsed as { operators?: unknown }).operators;
  if (!Array.isArray(list))
    throw new SentinelError('SNT_CONFIG_INVALID', `operators file ${path}: no "operators" list`);
  return list.map((item: unknown, i) => {
    const { name, role, passwordHash } = (item ?? {}) as Record<string, unknown>;
    if (typeof name !== 'string' || !namePattern.test(name))
      throw new SentinelError('SNT_CONFIG_INVALID', `operators file ${path}: entry ${i} has no valid name`);
    if (typeof role !== 'string' || !isRole(role))
      throw new SentinelError(
        'SNT_CONFIG_INVALID',
        `operators file ${path}: ${name}'s role must be viewer or operator`,
      );
    if (typeof passwordHash !== 'string' || !passwordHash.startsWith('scrypt$'))
      throw new SentinelError(
        'SNT_CONFIG_INVALID',
        `operators file ${path}: ${name} has no scrypt password hash`,
      );
    return { name, role, passwordHash };
  });
}

/** Adds or replaces an account (the file is written whole, then renamed, readable by its owner only). */
export async function saveOperator(path: string, name: string, role: Role, password: string): Promise<void> {
  if (!namePattern.test(name))
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      `operator name ${JSON.stringify(name)}: letters, digits, . _ @ - (1-64)`,
    );
  if (password.length < 12)
    throw new SentinelError('SNT_CONFIG_INVALID', 'an operator password needs at least 12 characters');
  const accounts = readOperators(path).filter((a) => a.name !== name);
  accounts.push({ name, role, passwordHash: await hashPassword(password, operatorScryptParams) });
  writePrivate(path, `${JSON.stringify({ operators: accounts }, null, 2)}\n`);
}

export function removeOperator(path: string, name: string): boolean {
  const accounts = readOperators(path);
  const kept = accounts.filter((a) => a.name !== name);
  if (kept.length === accounts.length) return false;
  writePrivate(path, `${JSON.stringify({ operators: kept }, null, 2)}\n`);
  return true;
}

export interface TokenEntry {
  readonly name: string;
  readonly role: Role;
  readonly digest: Buffer;
}

export function readTokens(path: string): TokenEntry[] {
  if (!existsSync(path)) return [];
  const out: TokenEntry[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const text = line.trim();
      if (text === '' || text.startsWith('#')) return;
      const [name, role, token, ...rest] = text.split(/\s+/);
      if (!name || !role || !token || rest.length > 0 || !namePattern.test(name) || !isRole(role))
        throw new SentinelError(
          'SNT_CONFIG_INVALID',
          `tokens file ${path} line ${i + 1}: expected "<name> <viewer|operator> <token>"`,
        );
      if (token.length < MIN_TOKEN_CHARS)
        throw new SentinelError(
          'SNT_CONFIG_INVALID',
          `tokens file ${path} line ${i + 1}: a token needs at least ${MIN_TOKEN_CHARS} characters`,
        );
      out.push({ name, role, digest: digest(token) });
    });
  return out;
}

/** Appends a new random token for `name` and returns it (shown once; only the file keeps it). */
export function issueToken(path: string, name: string, role: Role): string {
  if (!namePattern.test(name))
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      `token name ${JSON.stringify(name)}: letters, digits, . _ @ - (1-64)`,
    );
  const token = randomBytes(32).toString('base64url');
  const before = existsSync(path) ? readFileSync(path, 'utf8') : '# <name> <viewer|operator> <token>\n';
  writePrivate(path, `${before}${before.endsWith('\n') ? '' : '\n'}${name} ${role} ${token}\n`);
  return token;
}

function writePrivate(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export interface Session {
  readonly id: string;
  readonly principal: Principal;
  readonly csrfToken: string;
  readonly createdAt: number;
  lastSeenAt: number;
}

export interface AuthOptions {
  readonly operators: readonly OperatorAccount[];
  readonly tokens: readonly TokenEntry[];
  readonly sessionIdleMs: number;
  readonly sessionMaxMs: number;
  readonly maxSessions: number;
  /** Failed sign-ins per source address in `failureWindowMs` before further attempts are refused. */
  readonly maxFailures: number;
  readonly failureWindowMs: number;
  readonly now?: () => number;
}

export type LoginOutcome =
  | { readonly outcome: 'ok'; readonly session: Session }
  | { readonly outcome: 'refused' }
  | { readonly outcome: 'limited'; readonly retryAfterMs: number };

/** Hash of a password nobody has: an unknown name costs the same scrypt as a wrong password. */
const unknownAccountHash = hashPassword(randomBytes(24).toString('base64url'), operatorScryptParams);

export class Authenticator {
  private readonly o: AuthOptions;
  private readonly now: () => number;
  private readonly sessions = new Map<string, Session>();
  private readonly failures = new Map<string, number[]>();

  constructor(options: AuthOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
  }

  get hasCredentials(): boolean {
    return this.o.operators.length > 0 || this.o.tokens.length > 0;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  async login(name: string, password: string, sourceIp: string): Promise<LoginOutcome> {
    const now = this.now();
    const recent = (this.failures.get(sourceIp) ?? []).filter((t) => t > now - this.o.failureWindowMs);
    if (recent.length >= this.o.maxFailures) {
      return { outcome: 'limited', retryAfterMs: (recent[0] as number) + this.o.failureWindowMs - now };
    }
    const account = this.o.operators.find((a) => a.name === name);
    const ok = await verifyPassword(password, account?.passwordHash ?? (await unknownAccountHash));
    if (!account || !ok) {
      recent.push(now);
      this.failures.set(sourceIp, recent);
      if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value as string);
      return { outcome: 'refused' };
    }
    this.failures.delete(sourceIp);
    const session: Session = {
      id: randomBytes(32).toString('base64url'),
      principal: { name: account.name, role: account.role, via: 'session' },
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastSeenAt: now,
    };
    this.sessions.set(session.id, session);
    while (this.sessions.size > this.o.maxSessions)
      this.sessions.delete(this.sessions.keys().next().value as string);
    return { outcome: 'ok', session };
  }

  /** The live session of a cookie value, touched; undefined when unknown or expired. */
  session(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    const now = this.now();
    if (now - session.lastSeenAt > this.o.sessionIdleMs || now - session.createdAt > this.o.sessionMaxMs) {
      this.sessions.delete(id);
      return undefined;
    }
    session.lastSeenAt = now;
    return session;
  }

  logout(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  /** The principal of a bearer token; every entry is compared, in constant time each. */
  bearer(token: string): Principal | undefined {
    const wanted = digest(token);
    let found: TokenEntry | undefined;
    for (const entry of this.o.tokens) if (timingSafeEqual(entry.digest, wanted)) found = entry;
    return found ? { name: found.name, role: found.role, via: 'token' } : undefined;
  }

  /** A CSRF token as sent matches the session's (constant time). */
  csrfMatches(session: Session, sent: string | undefined): boolean {
    if (!sent) return false;
    const a = Buffer.from(session.csrfToken);
    const b = Buffer.from(sent);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}
