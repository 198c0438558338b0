import { Command } from 'commander';
import { SentinelError } from '../../lib/errors.js';
import { renderTable } from '../output.js';
import { commandSchemas, effectiveSettings } from '../settings-catalog.js';

/**
 * `sentinel config <command>`: the configuration a service would start with from this environment,
 * each value with where it came from; secrets masked. Flags given to the service itself win over
 * what this prints.
 */
export function configCommand(): Command {
  return new Command('config')
    .description(
      `print the effective configuration of a command from the environment (${Object.keys(commandSchemas).join(', ')}): value, source (environment or default), what it does; secrets masked`,
    )
    .argument('<command>', 'the sentinel command whose settings to print')
    .option('--json', 'print JSON')
    .action((command: string, options: { json?: boolean }) => {
      if (!commandSchemas[command])
        throw new SentinelError(
          'SNT_USAGE',
          `no settings for "${command}"; commands with settings: ${Object.keys(commandSchemas).join(', ')}`,
        );
      const rows = effectiveSettings(command, process.env);
      if (options.json) {
        console.log(JSON.stringify(rows, null, 2));
        return;
      }
      console.log(
        renderTable(
          ['setting', 'value', 'source', 'what it does'],
          rows.map((row) => [row.env, row.value, row.source, row.description]),
        ),
      );
    });
}
