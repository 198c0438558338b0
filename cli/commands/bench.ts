import { join } from 'node:path';
import { Command, Option } from 'commander';
import { addSettingFlags } from '../../lib/config.js';
import { SentinelError } from '../../lib/errors.js';
import { projectRoot, stackSchema } from '../../lib/local-platform.js';
import { stackConfigFrom } from './stack.js';

export function benchCommand(): Command {
  return addSettingFlags(
    new Command('bench')
      .description(
        'run the benchmark suite on the local platform (started if absent): end-to-end throughput and latency through Sentinel and straight into a plain Mosquitto, the floor (a bare two-hop Kafka relay on the same brokers with the same client settings), auth under 1,000 CONNECT/s, idle connections, per-stage cost, parse/inspect/rate-limit micro-benchmarks; prints a table and writes JSON under bench/results/',
      )
      .option('--quick', 'a short smoke run (about 2 minutes) with the same scenarios at small sizes', false)
      .addOption(
        new Option(
          '--only <scenarios>',
          'comma-separated subset: parse, inspect, ratelimit, auth, connections, floor, pipeline, detection',
        ),
      )
      .option('--out <file>', 'where the JSON goes (default bench/results/bench-<time>.json)')
      .option('--targets <targets>', 'pipeline targets: sentinel, direct or both', 'sentinel,direct')
      .option(
        '--idle <connections>',
        'idle sessions the connections scenario holds (default 60000; quick 2000)',
      )
      .option(
        '--ladder-max <msg/s>',
        'highest rate the sustained-rate ladders of floor and pipeline try (default 16000, quick 4000; the plain Mosquitto ladder 64000)',
      )
      .option('--keep', 'leave running the platform components this run started', false)
      .action(
        async (
          options: {
            quick: boolean;
            only?: string;
            out?: string;
            targets: string;
            idle?: string;
            ladderMax?: string;
            keep: boolean;
          },
          command: Command,
        ) => {
          // Loaded on use: the suite's dependencies (HdrHistogram) are not needed by the services.
          const { runSuite, scenarioNames } = await import('../../bench/suite.js');
          type Name = (typeof scenarioNames)[number];
          const only = (options.only?.split(',') ?? [...scenarioNames]).map((name) => name.trim());
          const unknown = only.filter((name) => !(scenarioNames as readonly string[]).includes(name));
          if (unknown.length > 0) {
            throw new SentinelError(
              'SNT_CONFIG_INVALID',
              `--only: unknown scenario ${unknown.join(', ')}; known: ${scenarioNames.join(', ')}`,
            );
          }
          const stamp = new Date()
            .toISOString()
            .replaceAll(':', '-')
            .replace(/\.\d+Z$/, 'Z');
          if (options.ladderMax !== undefined && !/^[1-9]\d*$/.test(options.ladderMax)) {
            throw new SentinelError(
              'SNT_CONFIG_INVALID',
              `--ladder-max: ${options.ladderMax} is not a rate in msg/s`,
            );
          }
          const ladder = options.ladderMax ? ['--ladder-max', options.ladderMax] : [];
          await runSuite(stackConfigFrom(command), {
            quick: options.quick,
            only: only as Name[],
            out:
              options.out ??
              join(projectRoot, 'bench', 'results', `bench-${stamp}${options.quick ? '-quick' : ''}.json`),
            keepPlatform: options.keep,
            scenarioFlags: {
              floor: ladder,
              pipeline: ['--targets', options.targets, ...ladder],
              ...(options.idle ? { connections: ['--idle', options.idle] } : {}),
            },
          });
        },
      ),
    stackSchema,
  );
}
