import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { SentinelError } from '../lib/errors.js';
import { projectRoot, type StackConfig } from '../lib/local-platform.js';
import { runToCompletion } from '../lib/process/run.js';
import { findJava } from './java.js';

/** deploy/local/pom.xml resolves the JVM components from Maven Central; its properties are the versions. */
export const platformPom = join(projectRoot, 'deploy', 'local', 'pom.xml');

export interface JvmArtifacts {
  readonly kafkaVersion: string;
  readonly kafkaLibs: string;
  readonly jmxExporterJar: string;
  readonly apicurioVersion: string;
  readonly apicurioHome: string;
  /** java executables: Kafka 4 needs 17+, Apicurio Registry 3.3 needs 21+. */
  readonly kafkaJava: string;
  readonly registryJava: string;
}

function pomProperty(pom: string, name: string): string {
  const match = new RegExp(`<${name.replaceAll('.', '\\.')}>([^<]+)</`).exec(pom);
  if (!match?.[1])
    throw new SentinelError('SNT_DEPENDENCY_MISSING', `${platformPom} has no <${name}> property`);
  return match[1].trim();
}

export function artifactPaths(config: StackConfig): JvmArtifacts {
  const pom = readFileSync(platformPom, 'utf8');
  const kafkaVersion = pomProperty(pom, 'kafka.version');
  const jmxVersion = pomProperty(pom, 'jmx.exporter.version');
  const apicurioVersion = pomProperty(pom, 'apicurio.version');
  return {
    kafkaVersion,
    kafkaLibs: join(config.cacheDir, `kafka-${kafkaVersion}`, 'libs'),
    jmxExporterJar: join(config.cacheDir, `jmx-exporter-${jmxVersion}`, 'jmx_prometheus_javaagent.jar'),
    apicurioVersion,
    apicurioHome: join(config.cacheDir, `apicurio-registry-${apicurioVersion}`),
    kafkaJava: findJava(17, config.kafkaJava || undefined, 'SENTINEL_KAFKA_JAVA', 'default-first').bin,
    registryJava: findJava(21, config.registryJava || undefined, 'SENTINEL_REGISTRY_JAVA').bin,
  };
}

/**
 * The SLF4J binding Kafka's logging needs (its POM names slf4j-api 1.7), and the SLF4J 2 one an
 * earlier deploy/local/pom.xml resolved instead: SLF4J 1.7 does not see it, so with it alone the
 * brokers logged nothing. A cache without the right one is resolved again; where that fails (no
 * network), the brokers start as before, silent, with a warning.
 */
const slf4jBinding = 'log4j-slf4j-impl-';
const staleSlf4jBinding = 'log4j-slf4j2-impl-';

const jarsIn = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

/** Everything the stack runs, the logging binding aside. */
function runnable(artifacts: JvmArtifacts): boolean {
  return (
    jarsIn(artifacts.kafkaLibs).some((f) => f.startsWith('kafka_2.13-')) &&
    existsSync(artifacts.jmxExporterJar) &&
    existsSync(join(artifacts.apicurioHome, 'quarkus-run.jar'))
  );
}

const logsThroughLog4j = (artifacts: JvmArtifacts): boolean =>
  jarsIn(artifacts.kafkaLibs).some((f) => f.startsWith(slf4jBinding));

/** Runs Maven only when something is missing from the cache directory. */
export async function ensureArtifacts(
  config: StackConfig,
  log: (line: string) => void,
): Promise<JvmArtifacts> {
  const artifacts = artifactPaths(config);
  const removeStaleBinding = () => {
    for (const jar of jarsIn(artifacts.kafkaLibs))
      if (jar.startsWith(staleSlf4jBinding)) rmSync(join(artifacts.kafkaLibs, jar), { force: true });
  };
  if (runnable(artifacts) && logsThroughLog4j(artifacts)) {
    removeStaleBinding();
    return artifacts;
  }
  const onlyLogging = runnable(artifacts);
  log(
    onlyLogging
      ? `resolving the brokers' logging binding (${slf4jBinding}*) from Maven Central into ${config.cacheDir}: without it Kafka logs nothing`
      : `resolving Kafka ${artifacts.kafkaVersion} and Apicurio Registry ${artifacts.apicurioVersion} from Maven Central into ${config.cacheDir}`,
  );
  const args = ['-B', '-q', '-f', platformPom, `-Dsentinel.cache=${config.cacheDir}`, 'process-resources'];
  const { code, output, startError } = await runToCompletion(config.mavenCommand, args);
  const resolved = !startError && code === 0 && runnable(artifacts) && logsThroughLog4j(artifacts);
  if (!resolved && onlyLogging) {
    log(
      `warning: could not resolve ${slf4jBinding}* (${startError ? startError.message : `Maven exit ${code}`}); the brokers start without logs`,
    );
    return artifacts;
  }
  if (startError) {
    throw new SentinelError(
      'SNT_DEPENDENCY_MISSING',
      `cannot run ${config.mavenCommand} (SENTINEL_MVN): ${startError.message}`,
      { cause: startError },
    );
  }
  if (!resolved) {
    throw new SentinelError(
      'SNT_DEPENDENCY_MISSING',
      `Maven could not resolve the platform jars (exit ${code}):\n${output.slice(-4000)}`,
    );
  }
  removeStaleBinding();
  return artifacts;
}
