import { Command } from 'commander';
import { forensicsSinkSchema } from '../../forensics/settings.js';
import { addSettingFlags, loadConfig } from '../../lib/config.js';
import { createLogger } from '../../lib/log.js';
import { exitOnFatal, onShutdown } from '../../lib/service/lifecycle.js';

/**
 * `sentinel forensics-sink`: sentinel.packets, sentinel.verdicts, sentinel.deliveries and the
 * quarantine topics (held messages, decisions) into ClickHouse, each record once. With the embedded engine it owns the data directory and answers
 * everyone else's queries on its read-only ClickHouse HTTP endpoint.
 */
export function forensicsSinkCommand(): Command {
  return addSettingFlags(
    new Command('forensics-sink')
      .description(
        'store packets, verdicts and deliveries in ClickHouse (batched, idempotent); with the embedded engine also serve read-only queries on 127.0.0.1:18123',
      )
      .action(async (_options: unknown, command: Command) => {
        const config = loadConfig(forensicsSinkSchema, { env: process.env, flags: command.opts() });
        const log = createLogger({ name: 'forensics-sink' });
        const crashAfter = config.crashAfterInserts;
        const { startForensicsSink } = await import('../../forensics/main.js');
        const service = await startForensicsSink(config, {
          log,
          onFatal: exitOnFatal(log),
          ...(crashAfter > 0
            ? {
                afterInsert: (inserts: number) => {
                  if (inserts >= crashAfter) process.kill(process.pid, 'SIGKILL');
                },
              }
            : {}),
        });
        onShutdown({ log, graceMs: config.graceMs, drain: () => service.stop() });
      }),
    forensicsSinkSchema,
  );
}
