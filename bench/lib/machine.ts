import { spawnSync } from 'node:child_process';
import { cpus, hostname, release, totalmem } from 'node:os';
import { projectRoot, type StackConfig } from '../../lib/local-platform.js';
import { artifactPaths } from '../../platform/artifacts.js';

/** What a result must say about where it was measured, so figures from two machines are not compared blind. */
export interface MachineDescription {
  readonly host: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly openFilesLimit: string;
  readonly versions: Readonly<Record<string, string>>;
  readonly commit: string;
}

function firstLine(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', cwd: projectRoot });
  return (
    `${result.stdout ?? ''}${result.stderr ?? ''}`
      .split('\n')
      .find((line) => line.trim() !== '')
      ?.trim() ?? 'absent'
  );
}

export function describeMachine(platform: StackConfig): MachineDescription {
  const jvm = artifactPaths(platform);
  return {
    host: hostname(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    openFilesLimit: firstLine('sh', ['-c', 'ulimit -n']),
    versions: {
      node: process.version,
      kafka: jvm.kafkaVersion,
      apicurioRegistry: jvm.apicurioVersion,
      mosquitto: firstLine('mosquitto', ['-h']).replace(/^mosquitto version /, ''),
      java: firstLine('java', ['-version']),
    },
    commit: firstLine('git', ['rev-parse', '--short', 'HEAD']),
  };
}
