import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { originCredentials, projectRoot, type StackConfig } from '../../lib/local-platform.js';
import { type CommandResult, runToCompletion } from '../../lib/process/run.js';
import { tcpReachable } from '../../platform/processes.js';
import { ensurePlatform, runCli, uniqueName } from '../helpers/platform.js';

/**
 * `npm start` for a newcomer: `sentinel up` brings the services up on their default ports, the
 * mosquitto_pub / mosquitto_sub walk of the README works, an injection is blocked, and Ctrl-C
 * leaves nothing of what `up` started running.
 */
const servicePorts = {
  ingest: 11883,
  ingestMetrics: 19101,
  processors: 19111,
  bridge: 19121,
  forensics: 19131,
  forensicsQuery: 18123,
};
const devicePassword = 'newcomer-walk-password';
// A device of its own per run: the default device DB is shared, and a finished run disables its device.
const newcomer = uniqueName('newcomer');

const run = (command: string, args: string[], timeoutMs: number) =>
  runToCompletion(command, args, { limitMs: timeoutMs, killSignal: 'SIGTERM' });

/** The README's mosquitto_pub through the edge, QoS 1. */
function publishAsNewcomer(message: string): Promise<CommandResult> {
  const device = ['-i', newcomer, '-u', newcomer, '-P', devicePassword];
  return run(
    'mosquitto_pub',
    [
      '-h',
      '127.0.0.1',
      '-p',
      '11883',
      ...device,
      '-t',
      `devices/${newcomer}/telemetry`,
      '-q',
      '1',
      '-m',
      message,
    ],
    20_000,
  );
}

interface UpRun {
  child: ReturnType<typeof spawn> | undefined;
  output: string;
}

/**
 * `sentinel up` in a process of its own (by default this tree's; `how` runs another command, e.g.
 * `npm start` in a clone, in a process group of its own so Ctrl-C reaches all of it); resolves
 * once it prints that the platform is ready.
 */
async function startUp(
  up: UpRun,
  how: { command: string; args: string[]; cwd?: string; env?: NodeJS.ProcessEnv } = {
    command: process.execPath,
    args: [join(projectRoot, 'dist', 'cli', 'main.js'), 'up'],
  },
): Promise<void> {
  const child = spawn(how.command, how.args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(how.cwd ? { cwd: how.cwd, detached: true } : {}),
    ...(how.env ? { env: how.env } : {}),
  });
  up.child = child;
  child.stdout?.on('data', (c: Buffer) => {
    up.output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    up.output += c.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const check = setInterval(() => {
      if (up.output.includes('platform ready')) {
        clearInterval(check);
        resolve();
      }
    }, 200);
    child.once('exit', (code) => {
      clearInterval(check);
      reject(new Error(`sentinel up exited (${code}):\n${up.output}`));
    });
  });
}

async function assertPortsFree(): Promise<void> {
  for (const [name, port] of Object.entries(servicePorts)) {
    assert.equal(await tcpReachable('127.0.0.1', port), false, `${name} still listening on ${port}`);
  }
}

describe('sentinel up (npm start)', () => {
  let config: StackConfig;
  const up: UpRun = { child: undefined, output: '' };

  before(async () => {
    config = await ensurePlatform();
    for (const [name, port] of Object.entries(servicePorts)) {
      assert.equal(
        await tcpReachable('127.0.0.1', port),
        false,
        `port ${port} (${name}) must be free for this test`,
      );
    }
    const added = await runCli([
      'devices',
      'add',
      newcomer,
      '--username',
      newcomer,
      '--password',
      devicePassword,
      '--publish',
      'devices/%c/#',
    ]);
    assert.equal(added.code, 0, added.stderr);
    await startUp(up);
  });

  after(async () => {
    if (up.child && up.child.exitCode === null) {
      up.child.kill('SIGINT');
      await once(up.child, 'exit');
    }
    // Disabled first, so a decision cached for it is invalidated, then removed: the machine's
    // device DB keeps nothing of the test.
    await runCli(['devices', 'disable', newcomer, '--reason', 'test finished']);
    await runCli(['devices', 'remove', newcomer]);
  });

  it('prints every service with its endpoint and health', () => {
    for (const service of ['forensics-sink', 'processors', 'bridge', 'ingest', 'console']) {
      assert.match(up.output, new RegExp(`${service}\\s+ready`), service);
    }
  });

  it('the README walk: a device publishes through the edge and the origin receives it; an injection does not arrive', async () => {
    const { app } = originCredentials(config);
    const marker = randomUUID();
    const subscriber = run(
      'mosquitto_sub',
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(config.originMqttPort),
        '-u',
        app.username,
        '-P',
        app.password,
        '-t',
        `devices/${newcomer}/#`,
        '-v',
        '-C',
        '1',
        '-W',
        '60',
      ],
      65_000,
    );
    // The subscription must be in place before the message leaves the bridge.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const attack = await publishAsNewcomer(`{"cmd":"; cat /etc/passwd","m":"${marker}-attack"}`);
    assert.equal(attack.code, 0, attack.output);
    const good = await publishAsNewcomer(`{"t":21.5,"m":"${marker}"}`);
    assert.equal(good.code, 0, good.output);
    const received = await subscriber;
    // Per-client order is kept end to end, so had the attack passed it would have arrived first.
    assert.match(received.output, new RegExp(`devices/${newcomer}/telemetry \\{"t":21.5,"m":"${marker}"\\}`));
    assert.doesNotMatch(received.output, /attack/);
  });

  it('stops on Ctrl-C with nothing it started left running', async () => {
    up.child!.kill('SIGINT');
    const [code] = (await once(up.child!, 'exit')) as [number | null];
    assert.equal(code, 0, up.output);
    await assertPortsFree();
    assert.match(up.output, /stopping/);
  });
});

describe('sentinel up when a service dies', () => {
  const up: UpRun = { child: undefined, output: '' };

  before(async () => {
    await ensurePlatform();
    await startUp(up);
  });

  after(async () => {
    if (up.child && up.child.exitCode === null) {
      up.child.kill('SIGINT');
      await once(up.child, 'exit');
    }
  });

  it('stops the whole platform and exits non-zero, naming the service and its log', async () => {
    const listed = await run('pgrep', ['-P', String(up.child!.pid), '-f', 'main.js processors'], 5_000);
    const pid = Number(listed.output.trim().split('\n')[0]);
    assert.ok(pid > 0, `the processors process of up: ${listed.output}`);
    process.kill(pid, 'SIGKILL');
    const [code] = (await once(up.child!, 'exit')) as [number | null];
    assert.equal(code, 1, up.output);
    assert.match(up.output, /processors exited \(SIGKILL\); see .*processors\.log\. Stopping the platform/);
    await assertPortsFree();
  });
});

/**
 * The README's two commands on a fresh checkout (issue 17): a clean clone of this commit, `npm ci`
 * (its preinstall is the system set-up step, its postinstall the Kafka client), then `npm start`
 * brings the platform up with no other step; Ctrl-C stops what it started. The clone uses the
 * platform this run already has (the same state directory: the brokers' ports are taken by it).
 */
describe('a clean clone: npm ci, then npm start', () => {
  const up: UpRun = { child: undefined, output: '' };
  let clone: string | undefined;

  /** This run's environment without what `npm test` added for itself (npm_config_*, npm_lifecycle_*...). */
  function newcomerEnv(): NodeJS.ProcessEnv {
    return Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('npm_')));
  }

  /** Ctrl-C at a terminal: SIGINT to the whole foreground process group (npm, sh, node). */
  function interrupt(): void {
    const child = up.child;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null)
      process.kill(-child.pid, 'SIGINT');
  }

  before(async () => {
    const config = await ensurePlatform();
    clone = mkdtempSync(join(tmpdir(), 'sentinel-clone-'));
    const cloned = await run('git', ['clone', '--quiet', '--no-hardlinks', projectRoot, clone], 60_000);
    assert.equal(cloned.code, 0, cloned.output);
    const installed = await runToCompletion('npm', ['ci', '--no-audit', '--no-fund'], {
      cwd: clone,
      env: newcomerEnv(),
      limitMs: 600_000,
      killSignal: 'SIGTERM',
    });
    assert.equal(installed.code, 0, installed.output);
    assert.match(
      installed.output,
      /setup: every system package `npm ci` needs is present; nothing to install/,
    );
    await startUp(up, {
      command: 'npm',
      args: ['start'],
      cwd: clone,
      env: { ...newcomerEnv(), SENTINEL_STATE_DIR: config.stateDir },
    });
  });

  after(async () => {
    if (up.child && up.child.exitCode === null && up.child.signalCode === null) {
      interrupt();
      await once(up.child, 'exit');
    }
    if (clone) rmSync(clone, { recursive: true, force: true });
  });

  it('comes up: the set-up step found nothing to install, every service answers', async () => {
    assert.match(up.output, /setup: every system package the platform needs is present; nothing to install/);
    for (const [name, port] of Object.entries(servicePorts))
      assert.equal(await tcpReachable('127.0.0.1', port), true, `${name} listens on ${port}`);
  });

  it('stops on Ctrl-C with nothing it started left running', async () => {
    interrupt();
    await once(up.child!, 'exit');
    await assertPortsFree();
  });
});
