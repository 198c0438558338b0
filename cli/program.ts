import { Command, CommanderError } from 'commander';
import { describeError, SentinelError } from '../lib/errors.js';
import { benchCommand } from './commands/bench.js';
import { bridgeCommand } from './commands/bridge.js';
import { devicesCommand } from './commands/devices.js';
import { forensicsCommand } from './commands/forensics.js';
import { forensicsSinkCommand } from './commands/forensics-sink.js';
import { ingestCommand } from './commands/ingest.js';
import { inspectCommand } from './commands/inspect.js';
import { processorsCommand } from './commands/processors.js';
import { stackCommand } from './commands/stack.js';
import { topicsCommand } from './commands/topics.js';
import { upCommand } from './commands/up.js';

/**
 * `sentinel`: the operator's command line. Every subcommand has --help; configuration comes from
 * flags and SENTINEL_* variables and is validated before anything starts.
 */
export function buildCli(): Command {
  const program = new Command('sentinel')
    .description('MQTT Sentinel: security layer between IoT devices and an MQTT origin')
    .showHelpAfterError()
    .exitOverride();
  for (const command of [
    upCommand(() => program.commands.map((c) => c.name())),
    stackCommand(),
    topicsCommand(),
    devicesCommand(),
    ingestCommand(),
    processorsCommand(),
    inspectCommand(),
    bridgeCommand(),
    forensicsSinkCommand(),
    forensicsCommand(),
    benchCommand(),
  ]) {
    program.addCommand(command.exitOverride().showHelpAfterError());
  }
  return program;
}

/** Runs one command line; sets the exit code (2 for invalid configuration) instead of exiting. */
export async function runCli(argv: string[]): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode;
      return;
    }
    console.error(`sentinel: ${describeError(err)}`);
    process.exitCode = err instanceof SentinelError && err.code === 'SNT_CONFIG_INVALID' ? 2 : 1;
  }
}
