import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runToCompletion } from './run.js';

test('runToCompletion: exit code and both streams together', async () => {
  const result = await runToCompletion('sh', ['-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(result.code, 3);
  assert.match(result.output, /out/);
  assert.match(result.output, /err/);
  assert.equal(result.startError, undefined);
});

test('runToCompletion: a command that cannot start is 127 with the reason, not a rejection', async () => {
  const result = await runToCompletion('/nonexistent/sentinel-no-such-tool', []);
  assert.equal(result.code, 127);
  assert.ok(result.startError);
  assert.match(result.output, /ENOENT/);
});

test('runToCompletion: the limit kills a command that runs too long', async () => {
  const result = await runToCompletion('sleep', ['30'], { limitMs: 100, killSignal: 'SIGTERM' });
  assert.equal(result.code, 1, 'ended by the signal, not by sleep finishing (exit 0)');
});

test('runToCompletion: cwd and env reach the command', async () => {
  const result = await runToCompletion('sh', ['-c', 'pwd; echo "$SENTINEL_RUN_TEST"'], {
    cwd: '/tmp',
    env: { ...process.env, SENTINEL_RUN_TEST: 'seen' },
  });
  assert.match(result.output, /^\/tmp\nseen\n$/);
});
