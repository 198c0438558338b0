import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { projectRoot } from '../lib/local-platform.js';
import { nodeRuntimeRefusal } from './node-runtime.js';

describe('the Node runtime the CLI accepts', () => {
  for (const [version, accepted] of [
    ['20.20.2', false],
    ['22.12.0', false],
    ['23.11.1', false],
    ['24.0.0', true],
    ['24.22.3', true],
    ['26.1.0', true],
  ] as const) {
    it(`${accepted ? 'runs on' : 'refuses'} Node ${version}`, () => {
      const refusal = nodeRuntimeRefusal(version, '/usr/bin/node');
      assert.equal(refusal === undefined, accepted);
    });
  }

  it('a refusal has a code and names the Node it saw and how to run the project Node', () => {
    const refusal = nodeRuntimeRefusal('20.20.2', '/usr/bin/node');
    assert.equal(refusal?.code, 'SNT_RUNTIME_UNSUPPORTED');
    assert.match(
      refusal?.message ?? '',
      /Node 20\.20\.2 \(\/usr\/bin\/node\) cannot run Sentinel: it needs Node 24/,
    );
    assert.match(refusal?.message ?? '', /`npm start`, `npx sentinel <command>`/);
    assert.match(refusal?.message ?? '', /node_modules\/\.bin\/node dist\/cli\/main\.js/);
  });

  it('the tests run on the Node the CLI accepts (npm puts node_modules/.bin/node first)', () => {
    assert.equal(nodeRuntimeRefusal(process.versions.node, process.execPath), undefined);
  });

  it('the CLI started by this Node runs a command', () => {
    const result = spawnSync(process.execPath, [join(projectRoot, 'dist', 'cli', 'main.js'), '--help'], {
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /Usage: sentinel/);
  });
});
