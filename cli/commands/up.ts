import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { addSettingFlags } from '../../lib/config.js';
import { type StackConfig, stackSchema } from '../../lib/local-platform.js';
import { renderTable } from '../output.js';
import { localPlatform, printStatus, stackConfigFrom } from './stack.js';

/**
 * `sentinel up` (`npm start`): the whole platform on one machine in the foreground. The stack
 * starts first; then each service runs as its own process (as it would in a deployment), with its
 * log under the state dir, and `up` waits for its /readyz. Ctrl-C stops the services (SIGTERM, so
 * they drain), then the stack; nothing this command started is left running. A service that exits
 * on its own, or a start that fails, stops everything too, and `up` exits non-zero.
 */
interface PlatformService {
  readonly command: string;
  readonly metricsPort: number;
  readonly endpoints: (config: StackConfig) => string;
}

const services: readonly PlatformService[] = [
  {
    command: 'forensics-sink',
    metricsPort: 19131,
    endpoints: () => 'ClickHouse queries http://127.0.0.1:18123',
  },
  {
    command: 'processors',
    metricsPort: 19111,
    endpoints: () => 'sentinel.packets -> sentinel.verdicts + sentinel.approved',
  },
  {
    command: 'bridge',
    metricsPort: 19121,
    endpoints: (config) => `origin ws://127.0.0.1:${config.originWsPort}`,
  },
  { command: 'ingest', metricsPort: 19101, endpoints: () => 'mqtt://127.0.0.1:11883' },
  {
    command: 'console',
    metricsPort: 18090,
    endpoints: (config) =>
      `operator console http://127.0.0.1:18090 (first run: user admin, password in ${config.stateDir}/console/admin-password)`,
  },
];

interface RunningService {
  readonly service: PlatformService;
  readonly child: ChildProcess;
  readonly logFile: string;
  exited: boolean;
}

const cli = join(fileURLToPath(import.meta.url), '..', '..', 'main.js');

async function ready(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

function startService(service: PlatformService, config: StackConfig): RunningService {
  const logDir = join(config.stateDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${service.command}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, [cli, service.command], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: process.env,
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const running: RunningService = { service, child, logFile, exited: false };
  child.once('exit', () => {
    running.exited = true;
  });
  return running;
}

async function stopServices(running: readonly RunningService[]): Promise<void> {
  // The edge first, so devices stop arriving while the rest drains.
  for (const entry of [...running].reverse()) {
    if (entry.exited) continue;
    entry.child.kill('SIGTERM');
    const deadline = Date.now() + 35_000;
    while (!entry.exited && Date.now() < deadline) await sleep(100);
    if (!entry.exited) entry.child.kill('SIGKILL');
  }
}

export function upCommand(availableCommands: () => readonly string[]): Command {
  return addSettingFlags(
    new Command('up')
      .description(
        'run the whole platform in the foreground: the stack, then the forensics sink, processors, bridge, an edge and the operator console; Ctrl-C stops everything',
      )
      .action(async (_options: unknown, command: Command) => {
        const config = stackConfigFrom(command);
        const began = Date.now();
        const { stackDown, stackStatus, stackUp } = await localPlatform();
        const report = await stackUp(config, (line) => console.log(`up: ${line}`));
        const available = new Set(availableCommands());
        const running: RunningService[] = [];
        let stopping = false;
        const stop = async (exitCode = 0) => {
          if (stopping) return;
          stopping = true;
          console.log('up: stopping');
          await stopServices(running);
          if (report.started.length > 0) {
            await stackDown(config, (line) => console.log(`up: ${line}`), new Set(report.started));
          } else {
            console.log(
              'up: the stack was already running before `up`; left running (`sentinel stack down` stops it)',
            );
          }
          process.exit(exitCode);
        };
        process.once('SIGINT', () => void stop());
        process.once('SIGTERM', () => void stop());

        for (const service of services) {
          if (!available.has(service.command)) continue;
          const entry = startService(service, config);
          running.push(entry);
          const deadline = Date.now() + 90_000;
          while (!(await ready(service.metricsPort))) {
            if (entry.exited || Date.now() > deadline) {
              console.error(`up: ${service.command} did not become ready; see ${entry.logFile}`);
              await stop(1);
              return;
            }
            await sleep(250);
          }
        }

        printStatus(await stackStatus(config));
        console.log(
          renderTable(
            ['service', 'health', 'endpoints', 'metrics', 'log'],
            running.map((entry) => [
              entry.service.command,
              entry.exited ? 'EXITED' : 'ready',
              entry.service.endpoints(config),
              `http://127.0.0.1:${entry.service.metricsPort}/metrics`,
              entry.logFile,
            ]),
          ),
        );
        console.log(
          `up: platform ready in ${((Date.now() - began) / 1000).toFixed(1)} s (stack ${report.seconds.toFixed(1)} s). Press Ctrl-C to stop everything.`,
        );
        // A platform missing one of its services is not the platform the table above promised:
        // a service that exits on its own stops everything, and `up` exits non-zero.
        for (const entry of running) {
          entry.child.once('exit', (code, signal) => {
            if (stopping) return;
            console.error(
              `up: ${entry.service.command} exited (${signal ?? `code ${code}`}); see ${entry.logFile}. Stopping the platform.`,
            );
            void stop(1);
          });
        }
        await new Promise<never>(() => undefined);
      }),
    stackSchema,
  );
}
