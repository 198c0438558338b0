import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { projectRoot } from '../lib/local-platform.js';

/**
 * Every service runs as `sentinel <command>`, so whatever the command table imports is mapped into
 * every edge worker, processor and bridge. The embedded ClickHouse alone was about 140 MB of RSS in
 * each (docs/performance.md); a command loads its implementation only when it runs.
 */
function librariesMappedAfterImporting(modules: readonly string[]): string[] {
  const imports = modules.map((m) => `await import(${JSON.stringify(pathToFileURL(m).href)});`).join('');
  const script = `${imports}process.stdout.write(require('node:fs').readFileSync('/proc/self/maps', 'utf8'));`;
  const run = spawnSync(process.execPath, ['--input-type=commonjs', '-e', `(async () => { ${script} })()`], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(run.status, 0, run.stderr);
  const libraries = new Set<string>();
  for (const line of run.stdout.split('\n')) {
    const path = line.split(/\s+/)[5];
    if (path?.endsWith('.so') || path?.includes('.so.') || path?.endsWith('.node')) libraries.add(path);
  }
  return [...libraries];
}

const dist = join(projectRoot, 'dist');
const nativeEngines = /libchdb|confluentinc|librdkafka/;

describe('the native engines a process maps', () => {
  it('the command table maps neither the embedded ClickHouse nor librdkafka', () => {
    const mapped = librariesMappedAfterImporting([join(dist, 'cli/program.js')]);
    assert.deepEqual(
      mapped.filter((path) => nativeEngines.test(path)),
      [],
    );
  });

  it('the console, which reads ClickHouse over HTTP, does not map the embedded engine', () => {
    const mapped = librariesMappedAfterImporting([join(dist, 'console/main.js')]);
    assert.deepEqual(
      mapped.filter((path) => /libchdb/.test(path)),
      [],
    );
  });

  it('the check can see them: the edge itself maps librdkafka', () => {
    const mapped = librariesMappedAfterImporting([join(dist, 'ingest/main.js')]);
    assert.ok(
      mapped.some((path) => nativeEngines.test(path)),
      `expected librdkafka among ${mapped.join(', ')}`,
    );
  });
});
