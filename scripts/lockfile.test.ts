import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { projectRoot } from '../lib/local-platform.js';

interface LockEntry {
  readonly optionalDependencies?: Record<string, string>;
}

it('package-lock.json lists every optional platform package, so `npm ci` accepts it on a fresh machine', () => {
  const lock = JSON.parse(readFileSync(join(projectRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const missing: string[] = [];
  for (const entry of Object.values(lock.packages)) {
    for (const name of Object.keys(entry.optionalDependencies ?? {})) {
      if (!lock.packages[`node_modules/${name}`]) missing.push(name);
    }
  }
  assert.deepEqual(missing, [], 'run `npm run lock:platforms` after `npm install`');
});
