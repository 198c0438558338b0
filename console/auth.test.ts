import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  Authenticator,
  issueToken,
  readOperators,
  readTokens,
  removeOperator,
  saveOperator,
} from './auth.js';

const dir = mkdtempSync(join(tmpdir(), 'console-auth-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function authenticator(now: () => number = Date.now) {
  const operators = join(dir, 'operators.json');
  await saveOperator(operators, 'alice', 'operator', 'correct horse battery');
  const tokens = join(dir, 'tokens');
  const token = issueToken(tokens, 'ci', 'viewer');
  const auth = new Authenticator({
    operators: readOperators(operators),
    tokens: readTokens(tokens),
    sessionIdleMs: 60_000,
    sessionMaxMs: 600_000,
    maxSessions: 2,
    maxFailures: 3,
    failureWindowMs: 60_000,
    now,
  });
  return { auth, token };
}

describe('console accounts', () => {
  it('stores an scrypt hash, never the password, in a file only its owner reads', async () => {
    const file = join(dir, 'ops.json');
    await saveOperator(file, 'bob', 'viewer', 'a long enough password');
    const [account] = readOperators(file);
    assert.equal(account?.name, 'bob');
    assert.match(account?.passwordHash ?? '', /^scrypt\$/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    await assert.rejects(saveOperator(file, 'carol', 'operator', 'short'), /at least 12 characters/);
    assert.equal(removeOperator(file, 'bob'), true);
    assert.equal(removeOperator(file, 'bob'), false);
  });

  it('refuses malformed files with the line or entry named', () => {
    const tokens = join(dir, 'bad-tokens');
    writeFileSync(tokens, 'alice admin 0123456789012345678901234567\n');
    assert.throws(() => readTokens(tokens), /line 1: expected/);
    writeFileSync(tokens, 'alice viewer short\n');
    assert.throws(() => readTokens(tokens), /at least 24 characters/);
    const operators = join(dir, 'bad-ops.json');
    writeFileSync(operators, '{"operators":[{"name":"x","role":"root","passwordHash":"scrypt$1"}]}');
    assert.throws(() => readOperators(operators), /role must be viewer or operator/);
  });

  it('signs in with the right password only; sessions expire when idle', async () => {
    let clock = 1_000_000;
    const { auth } = await authenticator(() => clock);
    assert.equal((await auth.login('alice', 'wrong password', '10.0.0.1')).outcome, 'refused');
    assert.equal((await auth.login('nobody', 'correct horse battery', '10.0.0.1')).outcome, 'refused');
    const ok = await auth.login('alice', 'correct horse battery', '10.0.0.2');
    assert.equal(ok.outcome, 'ok');
    if (ok.outcome !== 'ok') return;
    assert.deepEqual(auth.session(ok.session.id)?.principal, {
      name: 'alice',
      role: 'operator',
      via: 'session',
    });
    assert.equal(auth.csrfMatches(ok.session, ok.session.csrfToken), true);
    assert.equal(auth.csrfMatches(ok.session, 'x'), false);
    assert.equal(auth.csrfMatches(ok.session, undefined), false);
    clock += 60_001;
    assert.equal(auth.session(ok.session.id), undefined, 'idle too long');
  });

  it('limits failed sign-ins per address, even with the right password afterwards', async () => {
    const { auth } = await authenticator();
    for (let i = 0; i < 3; i++) await auth.login('alice', 'nope', '10.0.0.9');
    const limited = await auth.login('alice', 'correct horse battery', '10.0.0.9');
    assert.equal(limited.outcome, 'limited');
    assert.equal((await auth.login('alice', 'correct horse battery', '10.0.0.10')).outcome, 'ok');
  });

  it('knows a bearer token by its digest and refuses any other', async () => {
    const { auth, token } = await authenticator();
    assert.deepEqual(auth.bearer(token), { name: 'ci', role: 'viewer', via: 'token' });
    assert.equal(auth.bearer(`${token}x`), undefined);
    assert.equal(auth.bearer(''), undefined);
  });
});
