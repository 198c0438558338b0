import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ScenarioCleanup } from './cleanup.js';

test('cleanup undoes in reverse order, once, and a failing undo does not stop the others', async () => {
  const cleanup = new ScenarioCleanup('test');
  const undone: string[] = [];
  cleanup.add('topics', () => undone.push('topics'));
  cleanup.add('service', () => {
    throw new Error('already gone');
  });
  cleanup.add('load', async () => undone.push('load'));
  await Promise.all([cleanup.run('done'), cleanup.run('done')]);
  assert.deepEqual(undone, ['load', 'topics']);
  assert.equal(cleanup.started, true);
});

test('what is registered after the cleanup began is undone at once', async () => {
  const cleanup = new ScenarioCleanup('test');
  await cleanup.run('done');
  const late = new Promise<string>((resolve) => cleanup.add('late service', () => resolve('stopped')));
  assert.equal(await late, 'stopped');
});
