import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueToken, saveOperator } from '../../console/auth.js';
import { type ConsoleOptions, type RunningConsole, startConsole } from '../../console/main.js';
import { loadConsoleConfig } from '../../console/settings.js';
import { createLogger } from '../../lib/log.js';
import type { PipelineTestWorld } from './pipeline.js';
import { uniqueName } from './platform.js';

/** Accounts of a test console: an operator, a second operator, a viewer; a token for each kind. */
export interface ConsoleAccounts {
  readonly dir: string;
  readonly operatorPassword: string;
  readonly operatorToken: string;
  readonly secondOperatorToken: string;
  readonly viewerToken: string;
}

export async function consoleAccounts(): Promise<ConsoleAccounts> {
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-console-'));
  const operatorPassword = 'console-test-password-1';
  await saveOperator(join(dir, 'operators.json'), 'alice', 'operator', operatorPassword);
  await saveOperator(join(dir, 'operators.json'), 'victor', 'viewer', 'console-test-password-2');
  const tokens = join(dir, 'tokens');
  return {
    dir,
    operatorPassword,
    operatorToken: issueToken(tokens, 'alice-cli', 'operator'),
    secondOperatorToken: issueToken(tokens, 'bob-cli', 'operator'),
    viewerToken: issueToken(tokens, 'victor-cli', 'viewer'),
  };
}

/**
 * Sets the world up (edge, processors, bridge) with detected injections held for review instead of
 * blocked (policy patterns.action = quarantine), the policy file kept with the accounts.
 */
export async function setUpHoldingWorld(world: PipelineTestWorld, accounts: ConsoleAccounts): Promise<void> {
  const policy = join(accounts.dir, 'policy.json');
  writeFileSync(policy, JSON.stringify({ patterns: { action: 'quarantine' } }));
  await world.setUp({}, {}, { SENTINEL_PROCESSORS_POLICY_FILE: policy });
}

/** A console on the world's topics, on a free port, with its own accounts and transactional id. */
export async function startTestConsole(
  world: PipelineTestWorld,
  accounts: ConsoleAccounts,
  env: Record<string, string> = {},
  options: ConsoleOptions = {},
): Promise<RunningConsole> {
  const base = world.edgeWorld.env();
  const config = loadConsoleConfig({
    env: {
      SENTINEL_KAFKA_BROKERS: base.SENTINEL_KAFKA_BROKERS,
      SENTINEL_REGISTRY_URL: base.SENTINEL_REGISTRY_URL,
      SENTINEL_TOPIC_PREFIX: world.edgeWorld.topicPrefix,
      SENTINEL_CONSOLE_PORT: '0',
      SENTINEL_CONSOLE_OPERATORS_FILE: join(accounts.dir, 'operators.json'),
      SENTINEL_CONSOLE_TOKENS_FILE: join(accounts.dir, 'tokens'),
      SENTINEL_CONSOLE_TRANSACTIONAL_ID: `${world.edgeWorld.id}-console`,
      SENTINEL_CONSOLE_INSTANCE_ID: uniqueName('console'),
      // No forensic store in these worlds: the pages say so and go on.
      SENTINEL_FORENSICS_URL: 'http://127.0.0.1:9',
      SENTINEL_STATE_DIR: accounts.dir,
      ...env,
    },
  });
  return startConsole(config, createLogger({ name: 'console-test', level: 'warn', destination: 2 }), options);
}

export function removeAccounts(accounts: ConsoleAccounts | undefined): void {
  if (accounts) rmSync(accounts.dir, { recursive: true, force: true });
}

/** A JSON call to a console's API with a bearer token. */
export async function api<T = Record<string, unknown>>(
  running: RunningConsole,
  token: string,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${running.url}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, body: (await response.json()) as T };
}
