import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../lib/config.js';
import { stackSchema } from '../lib/local-platform.js';
import { artifactPaths, ensureArtifacts } from './artifacts.js';

/** A cache as an earlier `stack up` left it: everything, with the SLF4J 2 binding only. */
function cacheWithStaleBinding(mavenScript: string) {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-artifacts-'));
  const maven = join(dir, 'mvn');
  writeFileSync(maven, `#!/bin/sh\n${mavenScript}\n`);
  chmodSync(maven, 0o755);
  const config = loadConfig(stackSchema, {
    env: { SENTINEL_CACHE_DIR: join(dir, 'cache'), SENTINEL_MVN: maven },
  });
  const paths = artifactPaths(config);
  mkdirSync(paths.kafkaLibs, { recursive: true });
  for (const jar of ['kafka_2.13-4.4.0.jar', 'slf4j-api-1.7.36.jar', 'log4j-slf4j2-impl-2.24.3.jar'])
    writeFileSync(join(paths.kafkaLibs, jar), '');
  mkdirSync(join(paths.jmxExporterJar, '..'), { recursive: true });
  writeFileSync(paths.jmxExporterJar, '');
  mkdirSync(paths.apicurioHome, { recursive: true });
  writeFileSync(join(paths.apicurioHome, 'quarkus-run.jar'), '');
  return { dir, config, libs: paths.kafkaLibs };
}

describe('JVM artifacts: the brokers logging binding', () => {
  const dirs: string[] = [];
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('resolves again when the cache lacks log4j-slf4j-impl, and removes the SLF4J 2 binding', async () => {
    const cache = cacheWithStaleBinding(
      'touch "$(dirname "$0")/cache/kafka-4.4.0/libs/log4j-slf4j-impl-2.24.3.jar"',
    );
    dirs.push(cache.dir);
    const said: string[] = [];
    await ensureArtifacts(cache.config, (line) => said.push(line));
    assert.match(said.join('\n'), /resolving the brokers' logging binding/);
    assert.deepEqual(readdirSync(cache.libs).sort(), [
      'kafka_2.13-4.4.0.jar',
      'log4j-slf4j-impl-2.24.3.jar',
      'slf4j-api-1.7.36.jar',
    ]);
  });

  it('starts as before, with a warning, when Maven cannot resolve it (offline)', async () => {
    const cache = cacheWithStaleBinding('echo "Could not transfer artifact" >&2; exit 1');
    dirs.push(cache.dir);
    const said: string[] = [];
    const artifacts = await ensureArtifacts(cache.config, (line) => said.push(line));
    assert.equal(artifacts.kafkaLibs, cache.libs);
    assert.match(
      said.join('\n'),
      /warning: could not resolve log4j-slf4j-impl-\* \(Maven exit 1\); the brokers start without logs/,
    );
  });
});
