import { Command } from 'commander';
import { addSettingFlags } from '../../lib/config.js';
import { kafkaBrokerPorts, stackSchema } from '../../lib/local-platform.js';
import { diagnose, machineProbes, type PlatformPort } from '../doctor.js';
import { renderTable } from '../output.js';
import { commandSchemas, effectiveSettings } from '../settings-catalog.js';
import { localPlatform, stackConfigFrom } from './stack.js';

/** Every port a setting of the platform names (with this environment), once; the brokers' three. */
function platformPorts(env: NodeJS.ProcessEnv, brokers: readonly number[]): PlatformPort[] {
  const ports = new Map<number, string>();
  for (const [i, port] of brokers.entries())
    ports.set(port, i === 0 ? 'SENTINEL_KAFKA_PORT' : `SENTINEL_KAFKA_PORT (+${i}, kafka-${i + 1})`);
  for (const command of Object.keys(commandSchemas))
    for (const row of effectiveSettings(command, env)) {
      const port = Number(row.value);
      if (row.env.endsWith('_PORT') && Number.isInteger(port) && port > 0 && !ports.has(port))
        ports.set(port, row.env);
    }
  return [...ports].map(([port, setting]) => ({ port, setting }));
}

/**
 * `sentinel doctor`: what stands between this machine and a running platform, each problem with the
 * command that fixes it: the Node, the system packages, the stack's components and the machine's
 * Redis and MariaDB, ports taken by other processes, disk space, the open-file limit. Exits 1 when
 * something fails.
 */
export function doctorCommand(): Command {
  return addSettingFlags(
    new Command('doctor')
      .description(
        'check what the platform needs (Node, system packages, stack components, ports, disk, open files) and print the command that fixes each problem',
      )
      .option('--json', 'print JSON')
      .action(async (options: { json?: boolean }, command: Command) => {
        const config = stackConfigFrom(command);
        const { stackStatus } = await localPlatform();
        const findings = await diagnose(
          config,
          platformPorts(process.env, kafkaBrokerPorts(config)),
          machineProbes(() => stackStatus(config)),
        );
        if (options.json) console.log(JSON.stringify(findings, null, 2));
        else {
          console.log(
            renderTable(
              ['check', 'status', 'detail', 'fix'],
              findings.map((f) => [f.check, f.status, f.detail, f.fix ?? '']),
            ),
          );
          const failed = findings.filter((f) => f.status === 'fail').length;
          const warned = findings.filter((f) => f.status === 'warn').length;
          console.log(
            failed + warned === 0
              ? 'doctor: nothing to fix'
              : `doctor: ${failed} to fix, ${warned} to look at; each with its command above`,
          );
        }
        if (findings.some((f) => f.status === 'fail')) process.exitCode = 1;
      }),
    stackSchema,
  );
}
