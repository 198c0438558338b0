import { Command } from 'commander';
import { addSettingFlags, loadConfig } from '../../lib/config.js';
import { createLogger } from '../../lib/log.js';
import { exitOnFatal, onShutdown } from '../../lib/service/lifecycle.js';
import { processorsSchema } from '../../processors/settings.js';

/**
 * `sentinel processors`: inspects sentinel.packets and writes one verdict per event (and the approved
 * PUBLISHes) exactly once. Run more instances with the same group id to share the partitions.
 */
export function processorsCommand(): Command {
  return addSettingFlags(
    new Command('processors')
      .description(
        'run the inspection processors: sentinel.packets -> admission, validate, patterns, anomaly, verdict -> sentinel.verdicts + sentinel.approved (Kafka transactions)',
      )
      .action(async (_options: unknown, command: Command) => {
        const config = loadConfig(processorsSchema, { env: process.env, flags: command.opts() });
        const log = createLogger({ name: 'processors' });
        const { startProcessors } = await import('../../processors/main.js');
        const service = await startProcessors(config, {
          log,
          onFatal: exitOnFatal(log),
        });
        onShutdown({ log, graceMs: config.graceMs, drain: () => service.stop() });
      }),
    processorsSchema,
  );
}
