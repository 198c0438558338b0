import { Command } from 'commander';
import { addSettingFlags, loadConfig } from '../../lib/config.js';
import { type StackConfig, stackSchema } from '../../lib/local-platform.js';
import type { ComponentStatus } from '../../platform/component-status.js';
import { renderTable } from '../output.js';

export function stackConfigFrom(command: Command): StackConfig {
  return loadConfig(stackSchema, { env: process.env, flags: command.opts() });
}

/** The platform's supervisor, loaded when a command runs: it maps ClickHouse and the Kafka clients. */
export function localPlatform(): Promise<typeof import('../../platform/stack.js')> {
  return import('../../platform/stack.js');
}

export function stackCommand(): Command {
  const stack = new Command('stack').description(
    'start, stop and inspect the local platform (Kafka x3, registry, origin, checks, ClickHouse)',
  );

  addSettingFlags(
    stack
      .command('up')
      .description('start what is not running and wait until every component is ready (idempotent)')
      .action(async (_options: unknown, command: Command) => {
        const config = stackConfigFrom(command);
        const { stackStatus, stackUp } = await localPlatform();
        const report = await stackUp(config, (line) => console.log(`stack: ${line}`));
        console.log(
          `stack: ready in ${report.seconds.toFixed(1)} s; started ${report.started.length ? report.started.join(', ') : 'nothing (all running)'}`,
        );
        printStatus(await stackStatus(config));
      }),
    stackSchema,
  );

  addSettingFlags(
    stack
      .command('down')
      .description('stop the processes this stack started (never the machine’s own services)')
      .action(async (_options: unknown, command: Command) => {
        const { stackDown } = await localPlatform();
        await stackDown(stackConfigFrom(command), (line) => console.log(`stack: ${line}`));
      }),
    stackSchema,
  );

  addSettingFlags(
    stack
      .command('status')
      .description('each component, its address and whether it is healthy; exit 1 if any is not')
      .option('--json', 'print JSON')
      .option('--quiet', 'print nothing, only set the exit code')
      .action(async (options: { json?: boolean; quiet?: boolean }, command: Command) => {
        const { stackStatus } = await localPlatform();
        const rows = await stackStatus(stackConfigFrom(command));
        if (options.json) console.log(JSON.stringify(rows, null, 2));
        else if (!options.quiet) printStatus(rows);
        process.exitCode = rows.every((row) => row.healthy) ? 0 : 1;
      }),
    stackSchema,
  );
  return stack;
}

export function printStatus(rows: readonly ComponentStatus[]): void {
  console.log(
    renderTable(
      ['component', 'health', 'address', 'owner', 'detail'],
      rows.map((row) => [
        row.name,
        row.healthy ? 'healthy' : 'DOWN',
        row.address,
        row.managed ? 'stack' : 'machine',
        row.detail,
      ]),
    ),
  );
}
