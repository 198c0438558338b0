import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '../lib/local-platform.js';
import { effectiveSettings, platformSettingNames } from './settings-catalog.js';

/** The TypeScript sources below `dir`, tests excluded. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

const cli = join(fileURLToPath(import.meta.url), '..', 'main.js');

/** `sentinel ...` with exactly `env` (and PATH, for the Node it runs on). */
function sentinel(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, [cli, ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

describe('the settings catalog', () => {
  it('knows every SENTINEL_* name the platform source reads; no name is both known and retired', () => {
    // A whole name in the services, the CLI, lib or the launcher (read from the environment, set for
    // a child, named in a message) must be a setting of some command, read elsewhere on purpose,
    // retired, or a tool's own.
    const names = platformSettingNames();
    const uncatalogued = new Set<string>();
    for (const dir of ['ingest', 'processors', 'bridge', 'forensics', 'lib', 'platform', 'cli']) {
      for (const file of sourceFiles(join(projectRoot, dir))) {
        for (const [, name] of readFileSync(file, 'utf8').matchAll(/\b(SENTINEL_[A-Z0-9_]*[A-Z0-9])\b/g)) {
          const catalogued =
            names.known.has(name!) ||
            names.retired?.[name!] !== undefined ||
            names.ownedPrefixes?.some((prefix) => name!.startsWith(prefix));
          if (!catalogued) uncatalogued.add(`${name} (${file.slice(projectRoot.length + 1)})`);
        }
      }
    }
    assert.deepEqual([...uncatalogued], []);
    for (const retired of Object.keys(names.retired ?? {}))
      assert.equal(names.known.has(retired), false, retired);
  });

  it('prints what a service would run with: the source of each value, secrets masked', () => {
    const rows = effectiveSettings('ingest', {
      SENTINEL_INGEST_PORT: '1999',
      SENTINEL_AUTH_CACHE_SECRET: 'a-cache-secret-of-at-least-32-characters',
    });
    const row = (env: string) => rows.find((r) => r.env === env);
    assert.deepEqual(
      { value: row('SENTINEL_INGEST_PORT')?.value, source: row('SENTINEL_INGEST_PORT')?.source },
      { value: '1999', source: 'environment' },
    );
    assert.equal(row('SENTINEL_INGEST_TLS_PORT')?.source, 'default');
    assert.equal(row('SENTINEL_AUTH_CACHE_SECRET')?.value, '[secret]');
    assert.ok(!JSON.stringify(rows).includes('a-cache-secret-of-at-least'), 'the secret appears nowhere');
    assert.ok(
      rows.some((r) => r.env === 'SENTINEL_KAFKA_BROKERS'),
      'the shared endpoint settings too',
    );
  });
});

describe('sentinel refuses unknown settings at start', () => {
  it('exits 2 before any command acts, naming the variable and the setting it most likely meant', () => {
    const result = sentinel(['stack', 'status'], { SENTINEL_INGEST_PROT: '1884' });
    assert.equal(result.status, 2);
    assert.match(
      result.stderr,
      /SNT_CONFIG_UNKNOWN: unknown setting SENTINEL_INGEST_PROT \(did you mean SENTINEL_INGEST_PORT\?\)/,
    );
    assert.equal(result.stdout, '', 'nothing ran');
  });

  it('a retired setting is named with what replaced it', () => {
    const result = sentinel(['processors', '--help'], { SENTINEL_PROCESSORS_BATCH_MAX_MS: '20' });
    // --help acts before any command: help is always available, whatever the environment.
    assert.equal(result.status, 0);
    const config = sentinel(['config', 'processors'], { SENTINEL_PROCESSORS_BATCH_MAX_MS: '20' });
    assert.equal(config.status, 2);
    assert.match(config.stderr, /SENTINEL_PROCESSORS_BATCH_MAX_MS is retired: .*CHECKPOINT_INTERVAL_MS/);
  });

  it('`sentinel config` lists a service settings with their sources', () => {
    const result = sentinel(['config', 'bridge', '--json'], {
      SENTINEL_BRIDGE_ORIGIN_URL: 'ws://127.0.0.1:1/mqtt',
    });
    assert.equal(result.status, 0, result.stderr);
    const rows = JSON.parse(result.stdout) as Array<{ env: string; source: string }>;
    assert.equal(rows.find((r) => r.env === 'SENTINEL_BRIDGE_ORIGIN_URL')?.source, 'environment');
  });
});
