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
 * brokers logged nothing. A cache holding only that one is resolved again, and the stale jar goes.
 */
const slf4jBinding = 'log4j-slf4j-impl-';
const staleSlf4jBinding = 'log4j-slf4j2-impl-';

function present(artifacts: JvmArtifacts): boolean {
  return (
    existsSync(artifacts.kafkaLibs) &&
    readdirSync(artifacts.kafkaLibs).some((f) => f.startsWith('kafka_2.13-')) &&
    readdirSync(artifacts.kafkaLibs).some((f) => f.startsWith(slf4jBinding)) &&
    existsSync(artifacts.jmxExporterJar) &&
    existsSync(join(artifacts.apicurioHome, 'quarkus-run.jar'))
  );
}

/** Runs Maven only when something is missing from the cache directory. */
export async function ensureArtifacts(
  config: StackConfig,
  log: (line: string) => void,
): Promise<JvmArtifacts> {
  const artifacts = artifactPaths(config);
  if (present(artifacts)) return artifacts;
  log(
    `resolving Kafka ${artifacts.kafkaVersion} and Apicurio Registry ${artifacts.apicurioVersion} from Maven Central into ${config.cacheDir}`,
  );
  const args = ['-B', '-q', '-f', platformPom, `-Dsentinel.cache=${config.cacheDir}`, 'process-resources'];
  const { code, output, startError } = await runToCompletion(config.mavenCommand, args);
  if (startError) {
    throw new SentinelError(
      'SNT_DEPENDENCY_MISSING',
      `cannot run ${config.mavenCommand} (SENTINEL_MVN): ${startError.message}`,
      { cause: startError },
    );
  }
  if (code !== 0 || !present(artifacts)) {
    throw new SentinelError(
      'SNT_DEPENDENCY_MISSING',
      `Maven could not resolve the platform jars (exit ${code}):\n${output.slice(-4000)}`,
    );
  }
  for (const jar of readdirSync(artifacts.kafkaLibs))
    if (jar.startsWith(staleSlf4jBinding)) rmSync(join(artifacts.kafkaLibs, jar));
  return artifacts;
}
