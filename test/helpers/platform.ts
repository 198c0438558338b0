import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { loadConfig } from '../../lib/config.js';
import { createKafka } from '../../lib/kafka/client.js';
import {
  kafkaBootstrap,
  projectRoot,
  registryUrl,
  type StackConfig,
  stackSchema,
} from '../../lib/local-platform.js';
import { stackUp } from '../../platform/stack.js';

/**
 * Integration tests run against the real local platform. `ensurePlatform` starts it when it is not
 * running (the same code as `sentinel stack up`, idempotent and locked, so it is cheap when it runs).
 */
export function platformConfig(env: Record<string, string | undefined> = process.env): StackConfig {
  return loadConfig(stackSchema, { env });
}

export async function ensurePlatform(): Promise<StackConfig> {
  const config = platformConfig();
  await stackUp(config, () => undefined);
  return config;
}

/** A name no other test or run uses: topics, groups, subjects, key prefixes. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function testKafka(config: StackConfig, clientId = uniqueName('test')) {
  return createKafka({ brokers: kafkaBootstrap(config), clientId, retries: 5 });
}

export { registryUrl };

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built `sentinel` CLI as a user would; `input` is typed on its standard input. */
export function runCli(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  input?: string,
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(projectRoot, 'dist', 'cli', 'main.js'), ...args], {
      env: { ...process.env, ...env },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    if (input !== undefined) child.stdin?.end(input);
  });
}
