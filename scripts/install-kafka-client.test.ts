/**
 * The postinstall step (scripts/install-kafka-client.mjs) that makes @confluentinc/kafka-javascript
 * loadable. These run the real script against the installed client, with the cache in a temporary
 * XDG_CACHE_HOME, and never compile anything: a build is 3 minutes, and `npm ci` has just done one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import kafkaClient from '@confluentinc/kafka-javascript';
import { projectRoot } from '../lib/local-platform.js';

const script = join(projectRoot, 'scripts', 'install-kafka-client.mjs');
const clientDir = join(projectRoot, 'node_modules', '@confluentinc', 'kafka-javascript');
const cacheKey = `1.10.1-abi${process.versions.modules}-${process.platform}-${process.arch}`;
const runtimeFiles = ['confluent-kafka-javascript.node', 'librdkafka.so.1', 'librdkafka++.so.1'];

function runStep(args: string[], env: Record<string, string>) {
  const result = spawnSync(process.execPath, [script, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { code: result.status, out: `${result.stdout}${result.stderr}` };
}

/** A project with the client's JavaScript but none of its build output, beside the real Node. */
function projectWithoutBuild(root: string): void {
  const modules = join(root, 'node_modules');
  cpSync(clientDir, join(modules, '@confluentinc', 'kafka-javascript'), {
    recursive: true,
    filter: (src) => !/kafka-javascript\/(build|deps|src|node_modules)$/.test(src),
  });
  for (const dep of ['bindings', 'file-uri-to-path', '@mapbox']) {
    mkdirSync(join(modules, dep, '..'), { recursive: true });
    symlinkSync(join(projectRoot, 'node_modules', dep), join(modules, dep));
  }
  mkdirSync(join(modules, '.bin'));
  symlinkSync(join(projectRoot, 'node_modules', '.bin', 'node'), join(modules, '.bin', 'node'));
}

it('the installed Kafka client loads in the Node that runs the tests and bundles librdkafka 2.15.1 with its codecs and SASL', () => {
  // a CommonJS package: its exports are not visible to ESM as named imports
  const { features, librdkafkaVersion } = kafkaClient;
  assert.equal(librdkafkaVersion, '2.15.1');
  for (const feature of ['ssl', 'sasl', 'sasl_scram', 'zstd', 'lz4', 'snappy', 'gzip']) {
    assert.ok(features.includes(feature), `librdkafka built without ${feature}: ${features.join(',')}`);
  }
});

describe('scripts/install-kafka-client.mjs', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kafka-client-step-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('with the module already loading, builds nothing, says so and fills an empty cache', () => {
    const { code, out } = runStep([], { XDG_CACHE_HOME: join(dir, 'cache') });
    assert.equal(code, 0, out);
    assert.match(out, /already loads; nothing to build/);
    assert.match(out, /stored in the cache/);
    for (const file of runtimeFiles) {
      assert.ok(existsSync(join(dir, 'cache', 'mqtt-sentinel', 'kafka-client', cacheKey, file)), file);
    }
  });

  // uses the cache the test above filled
  it('restores the three files from the cache into a project that lacks them, and the module loads', () => {
    const project = join(dir, 'restored');
    projectWithoutBuild(project);
    const { code, out } = runStep([project], { XDG_CACHE_HOME: join(dir, 'cache') });
    assert.equal(code, 0, out);
    assert.match(out, /cache hit: restored @confluentinc\/kafka-javascript 1\.10\.1/);
    const probe = spawnSync(
      process.execPath,
      [
        '-p',
        `require(${JSON.stringify(join(project, 'node_modules', '@confluentinc', 'kafka-javascript'))}).librdkafkaVersion`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(probe.stdout.trim(), '2.15.1', probe.stderr);
  });

  it('without a cached build and with build packages missing, names them and the apt-get command, exit 2', () => {
    const project = join(dir, 'unbuilt');
    projectWithoutBuild(project);
    // a dpkg-query that knows only three of the build packages as installed; pkg-config, a tool, is
    // on PATH and so counts as present
    const fakeBin = join(dir, 'bin');
    mkdirSync(fakeBin);
    writeFileSync(
      join(fakeBin, 'dpkg-query'),
      '#!/bin/sh\nprintf "build-essential installed\\npython3 installed\\nlibssl-dev installed\\n"\n',
    );
    chmodSync(join(fakeBin, 'dpkg-query'), 0o755);
    const { code, out } = runStep([project], {
      XDG_CACHE_HOME: join(dir, 'empty-cache'),
      PATH: `${fakeBin}:${process.env.PATH ?? ''}`,
    });
    assert.equal(code, 2, out);
    assert.match(out, /missing Debian packages zlib1g-dev libzstd-dev libsasl2-dev liblz4-dev\n/);
    assert.match(
      out,
      /apt-get update && apt-get install -y zlib1g-dev libzstd-dev libsasl2-dev liblz4-dev\n/,
    );
  });

  it('does nothing, successfully, in a project without the client', () => {
    const project = join(dir, 'no-client');
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    const { code, out } = runStep([project], { XDG_CACHE_HOME: join(dir, 'cache') });
    assert.equal(code, 0, out);
    assert.match(out, /@confluentinc\/kafka-javascript is not installed; nothing to build/);
  });
});
