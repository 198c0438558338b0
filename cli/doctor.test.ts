import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StackConfig } from '../lib/local-platform.js';
import type { ComponentStatus } from '../platform/component-status.js';
import { type DoctorProbes, diagnose, type Finding } from './doctor.js';

const config = { stateDir: '/srv/sentinel/.sentinel' } as StackConfig;
const healthy = (name: string, managed = true): ComponentStatus => ({
  name,
  address: `127.0.0.1:${name.length}`,
  healthy: true,
  managed,
  detail: 'up',
});

/** A machine where everything is right; each test breaks one thing. */
function machine(overrides: Partial<DoctorProbes> = {}): DoctorProbes {
  return {
    nodeVersion: () => ({ version: '24.22.3', execPath: '/x/node' }),
    systemPackages: () => ({
      code: 0,
      output: 'setup: every system package the platform needs is present; nothing to install\n',
    }),
    stack: async () => [
      healthy('kafka-1'),
      healthy('kafka-2'),
      healthy('redis', false),
      healthy('device-db', false),
    ],
    listenerOn: () => undefined,
    freeBytes: () => 50 * 2 ** 30,
    openFileLimit: () => 20_000,
    ...overrides,
  };
}

async function problems(
  probes: DoctorProbes,
  ports = [{ setting: 'SENTINEL_INGEST_PORT', port: 11883 }],
): Promise<Finding[]> {
  return (await diagnose(config, ports, probes)).filter((f) => f.status !== 'ok');
}

describe('sentinel doctor', () => {
  it('finds nothing on a machine where everything is right', async () => {
    assert.deepEqual(await problems(machine()), []);
  });

  it('a Node too old: fails, and says to run through npm', async () => {
    const [finding] = await problems(
      machine({ nodeVersion: () => ({ version: '20.20.2', execPath: '/usr/bin/node' }) }),
    );
    assert.equal(finding?.check, 'Node');
    assert.equal(finding?.status, 'fail');
    assert.match(finding?.fix ?? '', /npm ci/);
  });

  it('missing packages: names them and gives the set-up step command', async () => {
    const [finding] = await problems(
      machine({
        systemPackages: () => ({
          code: 2,
          output:
            'setup: missing mosquitto: the local origin broker (sentinel stack up)\nsetup: not installing (not root); run:\n  sudo apt-get update && sudo apt-get install -y --no-install-recommends mosquitto\n',
        }),
      }),
    );
    assert.equal(finding?.status, 'fail');
    assert.match(finding?.detail ?? '', /mosquitto: the local origin broker/);
    assert.equal(
      finding?.fix,
      'sudo apt-get update && sudo apt-get install -y --no-install-recommends mosquitto',
    );
  });

  it('a broker down while the stack runs: fails with the command that restarts it; the machine Redis down: how to start it', async () => {
    const down = (c: ComponentStatus): ComponentStatus => ({ ...c, healthy: false, detail: 'not listening' });
    const found = await problems(
      machine({
        stack: async () => [
          healthy('kafka-1'),
          down(healthy('kafka-2')),
          down(healthy('redis', false)),
          healthy('device-db', false),
        ],
      }),
    );
    assert.deepEqual(
      found.map((f) => [f.check, f.status]),
      [
        ['kafka-2', 'fail'],
        ['redis', 'fail'],
      ],
    );
    assert.match(
      found[0]?.fix ?? '',
      /npx sentinel stack up \(restarts kafka-2; its log: \/srv\/sentinel\/\.sentinel\/logs\)/,
    );
    assert.match(found[1]?.fix ?? '', /redis-server/);
  });

  it('the stack not started at all is a warning with the start command, not a failure', async () => {
    const stopped = (name: string): ComponentStatus => ({
      ...healthy(name),
      healthy: false,
      detail: 'not listening',
    });
    const found = await problems(
      machine({ stack: async () => [stopped('kafka-1'), healthy('redis', false)] }),
    );
    assert.deepEqual(
      found.map((f) => [f.check, f.status, f.fix]),
      [['kafka-1', 'warn', 'npx sentinel stack up (or npm start)']],
    );
  });

  it('a port taken by another program: names the setting, the program and how to move; our own processes are not findings', async () => {
    const found = await problems(
      machine({
        listenerOn: (port) =>
          port === 11883
            ? { pid: 4242, command: 'socat TCP-LISTEN:11883 -' }
            : { pid: 7, command: '/x/node /srv/sentinel/dist/cli/main.js ingest' },
      }),
      [
        { setting: 'SENTINEL_INGEST_PORT', port: 11883 },
        { setting: 'SENTINEL_INGEST_METRICS_PORT', port: 19101 },
      ],
    );
    assert.deepEqual(found, [
      {
        check: 'port 11883',
        status: 'fail',
        detail: 'SENTINEL_INGEST_PORT is 11883, taken by socat TCP-LISTEN:11883 - (pid 4242)',
        fix: 'stop that process, or choose another port: SENTINEL_INGEST_PORT=<port>',
      },
    ]);
  });

  it('disk: under 1 GiB fails, under 5 GiB warns; a low open-file limit warns', async () => {
    assert.equal((await problems(machine({ freeBytes: () => 0.5 * 2 ** 30 })))[0]?.status, 'fail');
    assert.equal((await problems(machine({ freeBytes: () => 3 * 2 ** 30 })))[0]?.status, 'warn');
    const [files] = await problems(machine({ openFileLimit: () => 1024 }));
    assert.equal(files?.check, 'open files');
    assert.match(files?.fix ?? '', /ulimit -n 20000/);
  });
});
