import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SentinelError } from '../lib/errors.js';

/** Major version of a java executable, from `java -version` (printed on stderr). */
export function javaMajorVersion(javaBin: string): number | undefined {
  const result = spawnSync(javaBin, ['-version'], { encoding: 'utf8' });
  if (result.status !== 0) return undefined;
  const match = /version "(\d+)(?:\.(\d+))?/.exec(result.stderr);
  if (!match?.[1]) return undefined;
  const major = Number(match[1]);
  // Java 8 and older print "1.8.0".
  return major === 1 ? Number(match[2]) : major;
}

function candidates(): string[] {
  const found: string[] = [];
  if (process.env.JAVA_HOME) found.push(join(process.env.JAVA_HOME, 'bin', 'java'));
  const jvmRoot = '/usr/lib/jvm';
  if (existsSync(jvmRoot)) {
    for (const name of readdirSync(jvmRoot)) found.push(join(jvmRoot, name, 'bin', 'java'));
  }
  found.push('java');
  return found;
}

/**
 * The newest installed Java with at least `minimumMajor`. Kafka 4 brokers need 17; Apicurio
 * Registry 3.3 is compiled for 21, so on a machine whose default java is 17 it runs on a second JDK.
 */
export function findJava(
  minimumMajor: number,
  explicit: string | undefined,
  settingName: string,
  prefer: 'default-first' | 'newest' = 'newest',
): { bin: string; major: number } {
  const pool = explicit ? [explicit] : prefer === 'default-first' ? ['java', ...candidates()] : candidates();
  let best: { bin: string; major: number } | undefined;
  for (const bin of pool) {
    if (bin !== 'java' && !existsSync(bin)) continue;
    const major = javaMajorVersion(bin);
    if (major === undefined || major < minimumMajor) continue;
    if (prefer === 'default-first') return { bin, major };
    if (!best || major > best.major) best = { bin, major };
  }
  if (!best) {
    const where = explicit ? `${settingName}=${explicit}` : 'JAVA_HOME, /usr/lib/jvm/* and PATH';
    throw new SentinelError(
      'SNT_DEPENDENCY_MISSING',
      `no Java ${minimumMajor}+ found in ${where}; install a JDK ${minimumMajor}+ or point ${settingName} at its bin/java`,
    );
  }
  return best;
}
