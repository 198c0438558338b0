import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { SentinelError } from '../../lib/errors.js';

/**
 * Device password hashes: scrypt (memory-hard) with a random salt, encoded so that the hash carries
 * its own cost parameters: `scrypt$N$r$p$salt$key`, salt and key in base64url. Raising the cost
 * for new hashes never breaks old ones, and `needsRehash` says which stored hashes are below it.
 *
 * Default cost N=2^11, r=8, p=1 (2 MiB per hash, ~3 ms on one core here): the brief wants a cache
 * miss under 10 ms P99 on a 2-core machine, and N=2^12 already measured ~6 ms P50 with a long tail
 * under load. This is far below OWASP's figure for human passwords (N=2^17); it is acceptable
 * because device secrets are machine-generated and long, so the KDF only has to make offline
 * guessing of a leaked table expensive, not rescue weak passwords. See docs/ingest-auth.md.
 */
export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  readonly log2N: number;
  /** Block size; memory per hash is 128 * N * r bytes. */
  readonly r: number;
  /** Parallelisation. */
  readonly p: number;
}

export const defaultScryptParams: ScryptParams = { log2N: 11, r: 8, p: 1 };

/** What a stored hash may ask for; a tampered row must not be able to make one check cost seconds. */
export const scryptLimits = {
  log2N: { min: 10, max: 20 },
  r: { min: 1, max: 32 },
  p: { min: 1, max: 16 },
  saltBytes: { min: 16, max: 64 },
  keyBytes: { min: 16, max: 64 },
} as const;

const saltBytes = 16;
const keyBytes = 32;

export interface ParsedPasswordHash {
  readonly params: ScryptParams;
  readonly salt: Buffer;
  readonly key: Buffer;
}

export type PasswordInput = string | Uint8Array;

function memoryBytes(params: ScryptParams): number {
  return 128 * 2 ** params.log2N * params.r * params.p + 1024 * 1024;
}

function derive(
  password: PasswordInput,
  salt: Buffer,
  length: number,
  params: ScryptParams,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(
      password,
      salt,
      length,
      { N: 2 ** params.log2N, r: params.r, p: params.p, maxmem: memoryBytes(params) },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

function inRange(value: number, range: { min: number; max: number }): boolean {
  return Number.isInteger(value) && value >= range.min && value <= range.max;
}

export function checkScryptParams(params: ScryptParams): void {
  for (const name of ['log2N', 'r', 'p'] as const) {
    if (!inRange(params[name], scryptLimits[name])) {
      throw new SentinelError(
        'SNT_CONFIG_INVALID',
        `scrypt ${name}=${params[name]} is outside ${scryptLimits[name].min}..${scryptLimits[name].max}`,
      );
    }
  }
}

export async function hashPassword(
  password: PasswordInput,
  params: ScryptParams = defaultScryptParams,
): Promise<string> {
  checkScryptParams(params);
  const salt = randomBytes(saltBytes);
  const key = await derive(password, salt, keyBytes, params);
  return [
    'scrypt',
    2 ** params.log2N,
    params.r,
    params.p,
    salt.toString('base64url'),
    key.toString('base64url'),
  ].join('$');
}

const base64url = /^[A-Za-z0-9_-]+$/;
const decimal = /^[1-9][0-9]{0,9}$/;

/** Reads `scrypt$N$r$p$salt$key`; throws SNT_AUTH_HASH_INVALID naming what is wrong. */
export function parsePasswordHash(encoded: string): ParsedPasswordHash {
  const refuse = (why: string) =>
    new SentinelError('SNT_AUTH_HASH_INVALID', `stored password hash is not scrypt$N$r$p$salt$key: ${why}`);
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') throw refuse('wrong scheme or number of fields');
  const [, nText, rText, pText, saltText, keyText] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (!decimal.test(nText) || !decimal.test(rText) || !decimal.test(pText))
    throw refuse('N, r, p not numbers');
  const n = Number(nText);
  const log2N = Math.log2(n);
  const params = { log2N, r: Number(rText), p: Number(pText) };
  for (const name of ['log2N', 'r', 'p'] as const) {
    if (!inRange(params[name], scryptLimits[name])) throw refuse(`${name} out of range`);
  }
  if (!base64url.test(saltText) || !base64url.test(keyText)) throw refuse('salt or key not base64url');
  const salt = Buffer.from(saltText, 'base64url');
  const key = Buffer.from(keyText, 'base64url');
  if (!inRange(salt.length, scryptLimits.saltBytes)) throw refuse('salt length');
  if (!inRange(key.length, scryptLimits.keyBytes)) throw refuse('key length');
  return { params, salt, key };
}

/**
 * True when the password derives the stored key. The comparison is constant-time; the work is the
 * same for a right and a wrong password, so only the stored cost shows in the timing.
 */
export async function verifyPassword(password: PasswordInput, encoded: string): Promise<boolean> {
  const stored = parsePasswordHash(encoded);
  const candidate = await derive(password, stored.salt, stored.key.length, stored.params);
  return timingSafeEqual(candidate, stored.key);
}

/** True when a stored hash is cheaper than `params` (rehash it after the next successful login). */
export function needsRehash(encoded: string, params: ScryptParams = defaultScryptParams): boolean {
  const stored = parsePasswordHash(encoded).params;
  return 2 ** stored.log2N * stored.r * stored.p < 2 ** params.log2N * params.r * params.p;
}

/**
 * A hash of a random secret nobody knows, with the current cost: verified against when a device
 * does not exist, so "no such device" takes as long as "wrong password".
 */
export function createDummyHash(params: ScryptParams = defaultScryptParams): Promise<string> {
  return hashPassword(randomBytes(32), params);
}
