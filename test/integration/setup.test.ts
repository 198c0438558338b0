import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { projectRoot } from '../../lib/local-platform.js';
import { runToCompletion } from '../../lib/process/run.js';

const script = join(projectRoot, 'scripts', 'setup-system.mjs');
/** The machine's Node, as `npm ci`'s preinstall and `.ci/run` find it before anything is installed. */
const systemNode = '/usr/bin/node';

function setup(args: string[], options: { env?: NodeJS.ProcessEnv; as?: string; path?: string } = {}) {
  const argv = [options.path ?? script, ...args];
  const [command, commandArgs] = options.as
    ? [
        '/usr/sbin/runuser',
        ['-u', options.as, '--', 'env', `PATH=${options.env?.PATH ?? process.env.PATH}`, systemNode, ...argv],
      ]
    : [systemNode, argv];
  return runToCompletion(command, commandArgs as string[], {
    ...(options.env ? { env: options.env } : {}),
    limitMs: 600_000,
    killSignal: 'SIGTERM',
  });
}

/**
 * The one set-up step (scripts/setup-system.mjs) that `npm ci`, `npm start` and `.ci/run` share
 * (issue 17). `.ci/run` ran it already on this machine, so this run is the second: it installs
 * nothing. Where it cannot install it prints the command to run.
 */
describe('the system set-up step', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-setup-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('run again, installs nothing and says so, for every scope', async () => {
    for (const [scope, what] of [
      ['install', '`npm ci` needs'],
      ['platform', 'the platform needs'],
      ['tests', 'the platform and its tests need'],
    ] as const) {
      const result = await setup(['--for', scope]);
      assert.equal(result.code, 0, result.output);
      assert.equal(
        result.output.trim(),
        `setup: every system package ${what} is present; nothing to install`,
      );
    }
  });

  it('with a required part missing and --check, names it with why and prints the exact command; exits 2', async () => {
    // Mosquitto lives in /usr/sbin: without it on PATH the origin broker counts as missing.
    const result = await setup(['--check'], { env: { ...process.env, PATH: '/usr/bin:/bin' } });
    assert.equal(result.code, 2, result.output);
    assert.match(result.output, /setup: missing mosquitto: the local origin broker/);
    assert.match(
      result.output,
      /^ {2}apt-get update && apt-get install -y --no-install-recommends mosquitto$/m,
    );
  });

  it('not root: prints the command with sudo, installs nothing', async () => {
    // A copy the unprivileged user can read, wherever this checkout lives.
    const copy = join(dir, 'setup-system.mjs');
    copyFileSync(script, copy);
    chmodSync(dir, 0o755);
    const result = await setup([], {
      as: 'nobody',
      path: copy,
      env: { ...process.env, PATH: '/usr/bin:/bin' },
    });
    assert.equal(result.code, 2, result.output);
    assert.match(result.output, /not installing \(not root\)/);
    assert.match(
      result.output,
      /sudo apt-get update && sudo apt-get install -y --no-install-recommends mosquitto/,
    );
  });

  it('refuses an unknown scope', async () => {
    const result = await setup(['--for', 'everything']);
    assert.equal(result.code, 2);
    assert.match(result.output, /--for must be one of install, platform, tests/);
  });
});
