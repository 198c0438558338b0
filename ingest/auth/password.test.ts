import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSentinelError } from '../../lib/errors.js';
import {
  createDummyHash,
  defaultScryptParams,
  hashPassword,
  needsRehash,
  parsePasswordHash,
  verifyPassword,
} from './password.js';

const cheap = { log2N: 10, r: 1, p: 1 };

describe('hashPassword', () => {
  it('encodes scrypt$N$r$p$salt$key with the default cost', async () => {
    const hash = await hashPassword('correct horse battery staple');
    assert.match(hash, /^scrypt\$2048\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(parsePasswordHash(hash).params, defaultScryptParams);
  });

  it('salts: the same password hashes differently each time', async () => {
    assert.notEqual(await hashPassword('same', cheap), await hashPassword('same', cheap));
  });

  it('keeps the cost in the hash, so raising it leaves old hashes verifiable', async () => {
    const old = await hashPassword('pw', cheap);
    const stronger = await hashPassword('pw', { log2N: 12, r: 8, p: 1 });
    assert.ok(await verifyPassword('pw', old));
    assert.ok(await verifyPassword('pw', stronger));
    assert.equal(needsRehash(old, defaultScryptParams), true);
    assert.equal(needsRehash(stronger, defaultScryptParams), false);
  });

  it('refuses cost parameters outside the allowed range', async () => {
    await assert.rejects(hashPassword('pw', { log2N: 30, r: 8, p: 1 }), (err) =>
      isSentinelError(err, 'SNT_CONFIG_INVALID'),
    );
  });
});

describe('verifyPassword', () => {
  const cases: Array<[stored: string, attempt: string | Buffer, ok: boolean]> = [
    ['s3cret-device-key', 's3cret-device-key', true],
    ['s3cret-device-key', 's3cret-device-kez', false],
    ['s3cret-device-key', '', false],
    ['s3cret-device-key', 'S3CRET-DEVICE-KEY', false],
    ['ünïcødé', Buffer.from('ünïcødé', 'utf8'), true],
  ];
  for (const [stored, attempt, ok] of cases) {
    it(`"${stored}" vs ${JSON.stringify(attempt.toString())} -> ${ok}`, async () => {
      assert.equal(await verifyPassword(attempt, await hashPassword(stored, cheap)), ok);
    });
  }

  it('a dummy hash matches no password a caller could know', async () => {
    const dummy = await createDummyHash(cheap);
    assert.equal(await verifyPassword('', dummy), false);
    assert.equal(await verifyPassword('password', dummy), false);
  });
});

describe('parsePasswordHash refuses what is not a well-formed, bounded scrypt hash', () => {
  const salt = Buffer.alloc(16, 1).toString('base64url');
  const key = Buffer.alloc(32, 2).toString('base64url');
  const cases: Array<[string, string]> = [
    ['bcrypt$2048$8$1$x$y', 'other scheme'],
    [`scrypt$2048$8$1$${salt}`, 'missing key'],
    [`scrypt$2000$8$1$${salt}$${key}`, 'N not a power of two'],
    [`scrypt$${2 ** 24}$8$1$${salt}$${key}`, 'N above the limit (a tampered row must not cost seconds)'],
    [`scrypt$2048$64$1$${salt}$${key}`, 'r above the limit'],
    [`scrypt$2048$8$0$${salt}$${key}`, 'p zero'],
    [`scrypt$2048$8$1$${Buffer.alloc(4).toString('base64url')}$${key}`, 'short salt'],
    [`scrypt$2048$8$1$${salt}$a+b/`, 'key not base64url'],
    [`scrypt$2048$8$1$${salt}$${key}$extra`, 'extra field'],
    ['', 'empty'],
  ];
  for (const [encoded, why] of cases) {
    it(why, () => {
      assert.throws(
        () => parsePasswordHash(encoded),
        (err) => isSentinelError(err, 'SNT_AUTH_HASH_INVALID'),
      );
    });
  }
});
