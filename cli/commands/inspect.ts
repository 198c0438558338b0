import { createReadStream, createWriteStream, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { Command } from 'commander';
import { parseInstant } from '../../forensics/queries.js';
import { loadConfig } from '../../lib/config.js';
import { SentinelError } from '../../lib/errors.js';
import { type DetectionFiles, loadDetectionFiles } from '../../processors/detection-files.js';
import { InspectSummary, OfflineInspector, parseInspectLine } from '../../processors/offline.js';
import { type ProcessorsConfig, processorsSchema } from '../../processors/settings.js';
import { renderTable } from '../output.js';

interface InspectFlags {
  readonly replay?: boolean;
  readonly since?: string;
  readonly until?: string;
  readonly json?: string;
  readonly examples?: string;
  readonly policy?: string;
  readonly rules?: string;
  readonly chain?: string;
  readonly out?: string;
  readonly summary?: string;
}

/** The policy and rules to try: the flags' files, else the live service's. */
function candidateFiles(live: ProcessorsConfig, flags: InspectFlags): DetectionFiles {
  return { policyFile: flags.policy ?? live.policyFile, rulesFile: flags.rules ?? live.rulesFile };
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
    .option(
      '--replay',
      'retro-hunt: run the packets still in sentinel.packets through the chain in force and the candidate (--policy/--rules) side by side and report what would change; writes nothing',
    )
    .option('--since <time>', 'replay from: a duration ago (15m, 24h, 3d) or an ISO 8601 time; default 24h')
    .option('--until <time>', 'replay up to this time (same forms); default: everything Kafka holds now')
    .option('--json <file>', 'replay: also write the report as JSON')
    .option('--examples <n>', 'replay: examples kept per rule (default 3)')
    .action(async (file: string | undefined, flags: InspectFlags) => {
      const live = loadConfig(processorsSchema, { env: process.env });
      if (flags.replay) {
        await replayCommand(live, flags);
        return;
      }
      const { policy, rules } = loadDetectionFiles(candidateFiles(live, flags));
      const { parseChain } = await import('../../processors/main.js');
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

/** `sentinel inspect --replay`: the retro-hunt over what sentinel.packets still holds. */
async function replayCommand(live: ProcessorsConfig, flags: InspectFlags): Promise<void> {
  const now = Date.now();
  const examples = Number(flags.examples ?? 3);
  if (!Number.isInteger(examples) || examples < 0)
    throw new SentinelError('SNT_USAGE', `--examples ${flags.examples}: a whole number of examples per rule`);
  const candidate = candidateFiles(live, flags);
  // Checked here first, so a wrong file is refused before anything is read.
  loadDetectionFiles(candidate);
  const [{ parseChain }, { replayPackets }] = await Promise.all([
    import('../../processors/main.js'),
    import('../../processors/replay-kafka.js'),
  ]);
  const report = await replayPackets({
    config: live,
    candidate,
    chain: parseChain(flags.chain ?? live.chain),
    sinceMs: parseInstant(flags.since ?? '24h', now, '--since'),
    ...(flags.until === undefined ? {} : { untilMs: parseInstant(flags.until, now, '--until') }),
    examplesPerRule: examples,
    onProgress: (packets, seconds) =>
      process.stderr.write(
        `\rreplay: ${packets.toLocaleString('en-US')} packets in ${seconds.toFixed(1)} s (${Math.round(packets / Math.max(seconds, 0.001)).toLocaleString('en-US')}/s)`,
      ),
  });
  process.stderr.write('\n');
  if (flags.json) writeFileSync(flags.json, `${JSON.stringify(report, null, 2)}\n`);
  console.log(
    `${report.packets.toLocaleString('en-US')} packets since ${report.since} in ${report.seconds} s (${report.packetsPerSecond.toLocaleString('en-US')}/s): ${report.changed.toLocaleString('en-US')} would be decided differently`,
  );
  const transitions = Object.entries(report.transitions).map(([t, n]) => [t, String(n)]);
  if (transitions.length > 0) console.log(renderTable(['current -> candidate', 'packets'], transitions));
  const rules = Object.entries(report.rules).map(([id, r]) => [
    id,
    String(r.added),
    String(r.removed),
    r.examples[0] ? `${r.examples[0].clientId} ${r.examples[0].topic ?? ''}` : '',
  ]);
  if (rules.length > 0)
    console.log(renderTable(['rule', 'fires only with the candidate', 'fires only now', 'example'], rules));
  if (report.devices.length > 0)
    console.log(
      renderTable(
        ['device', 'packets changed'],
        report.devices.map((d) => [d.clientId, String(d.changed)]),
      ),
    );
}
