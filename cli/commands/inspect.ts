import { createReadStream, createWriteStream, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { Command } from 'commander';
import { loadConfig } from '../../lib/config.js';
import { loadDetectionFiles, parseChain } from '../../processors/main.js';
import { InspectSummary, OfflineInspector, parseInspectLine } from '../../processors/offline.js';
import { processorsSchema } from '../../processors/settings.js';
import { renderTable } from '../output.js';

interface InspectFlags {
  readonly policy?: string;
  readonly rules?: string;
  readonly chain?: string;
  readonly out?: string;
  readonly summary?: string;
}

/**
 * `sentinel inspect [FILE]`: the processors' chain over payloads from a JSONL file (or stdin), with
 * the live defaults or a candidate policy and rules; one JSONL result per case on stdout (or
 * --out), a summary on stderr (and as JSON with --summary).
 */
export function inspectCommand(): Command {
  return new Command('inspect')
    .description(
      'inspect payloads offline with the chain and policy the live processors run: JSONL {"id","client_id","topic","payload"|"payload_base64"} in, JSONL {"id","decision","classes","findings"} out',
    )
    .argument('[file]', 'input JSONL; stdin when omitted or "-"')
    .option(
      '--policy <file>',
      'policy file (default: SENTINEL_PROCESSORS_POLICY_FILE, else the shipped default)',
    )
    .option(
      '--rules <file>',
      'pattern rules file (default: SENTINEL_PROCESSORS_RULES_FILE, else the shipped rules)',
    )
    .option('--chain <steps>', 'steps to run, as SENTINEL_PROCESSORS_CHAIN (default: the live chain)')
    .option('--out <file>', 'write the results here instead of stdout')
    .option('--summary <file>', 'also write the summary as JSON to this file')
    .action(async (file: string | undefined, flags: InspectFlags) => {
      const live = loadConfig(processorsSchema, { env: process.env });
      const { policy, rules } = loadDetectionFiles({
        policyFile: flags.policy ?? live.policyFile,
        rulesFile: flags.rules ?? live.rulesFile,
      });
      const inspector = new OfflineInspector({
        policy,
        rules,
        chain: parseChain(flags.chain ?? live.chain),
      });
      const input = file === undefined || file === '-' ? process.stdin : createReadStream(file);
      const output: Writable = flags.out ? createWriteStream(flags.out) : process.stdout;
      const summary = new InspectSummary();
      let lineNumber = 0;
      for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
        lineNumber += 1;
        if (line.trim() === '') continue;
        const result = inspector.inspect(parseInspectLine(line, lineNumber));
        summary.add(result);
        if (!output.write(`${JSON.stringify(result)}\n`))
          await new Promise((resolve) => output.once('drain', resolve));
      }
      if (output !== process.stdout) await new Promise((resolve) => output.end(resolve));
      const totals = summary.toJSON();
      if (flags.summary) writeFileSync(flags.summary, `${JSON.stringify(totals, null, 2)}\n`);
      process.stderr.write(
        `${renderTable(
          ['cases', 'allow', 'quarantine', 'block'],
          [
            [totals.cases, totals.decisions.allow, totals.decisions.quarantine, totals.decisions.block].map(
              String,
            ),
          ],
        )}\n`,
      );
      const classRows = Object.entries(totals.classes).map(([cls, n]) => [cls, String(n)]);
      if (classRows.length > 0)
        process.stderr.write(`${renderTable(['class (acting)', 'cases'], classRows)}\n`);
    });
}
