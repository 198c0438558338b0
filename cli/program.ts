import { Command, CommanderError } from 'commander';
import { refuseUnknownSettings } from '../lib/config.js';
import { describeError, SentinelError } from '../lib/errors.js';
import { benchCommand } from './commands/bench.js';
import { bridgeCommand } from './commands/bridge.js';
import { configCommand } from './commands/config.js';
import { consoleCommand } from './commands/console.js';
import { devicesCommand } from './commands/devices.js';
import { doctorCommand } from './commands/doctor.js';
import { forensicsCommand } from './commands/forensics.js';
import { forensicsSinkCommand } from './commands/forensics-sink.js';
import { ingestCommand } from './commands/ingest.js';
import { inspectCommand } from './commands/inspect.js';
import { processorsCommand } from './commands/processors.js';
import { quarantineCommand } from './commands/quarantine.js';
import { stackCommand } from './commands/stack.js';
import { topicsCommand } from './commands/topics.js';
import { upCommand } from './commands/up.js';
import { platformSettingNames } from './settings-catalog.js';

/**
 * `sentinel`: the operator's command line. Every subcommand has --help; configuration comes from
 * flags and SENTINEL_* variables and is validated before anything starts.
 *
 * Each service runs as `sentinel <command>`, so what this table imports is loaded into every edge
 * worker, processor and bridge: command modules import settings only, and load their service (and
 * its native clients: librdkafka, the embedded ClickHouse) with `import()` when they run.
 */
export function buildCli(): Command {
  const program = new Command('sentinel')
    .description('MQTT Sentinel: security layer between IoT devices and an MQTT origin')
    .showHelpAfterError()
    .exitOverride()
    // Before any command acts: a SENTINEL_* variable nothing reads is a typo or a retired setting.
    .hook('preAction', () => refuseUnknownSettings(process.env, platformSettingNames()));
  for (const command of [
    upCommand(() => program.commands.map((c) => c.name())),
    stackCommand(),
    doctorCommand(),
    topicsCommand(),
    devicesCommand(),
    ingestCommand(),
    processorsCommand(),
    inspectCommand(),
    bridgeCommand(),
    forensicsSinkCommand(),
    forensicsCommand(),
    consoleCommand(),
    quarantineCommand(),
    configCommand(),
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
    process.exitCode =
      err instanceof SentinelError && (err.code === 'SNT_CONFIG_INVALID' || err.code === 'SNT_CONFIG_UNKNOWN')
        ? 2
        : 1;
  }
}
