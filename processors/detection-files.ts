/**
 * The policy and rules files of a chain, read and checked. Apart from the Kafka runtime, so that
 * worker threads (`sentinel inspect --replay`) load them without the native Kafka client.
 */
import { readFileSync } from 'node:fs';
import { SentinelError } from '../lib/errors.js';
import { type CompiledRule, rulesFromText } from './inspect/rules.js';
import { type Policy, policyFromText } from './policy/policy.js';

/** Where a chain's policy and rules come from. */
export interface DetectionFiles {
  readonly policyFile: string;
  readonly rulesFile: string;
}

function readSettingFile(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new SentinelError(
      'SNT_CONFIG_INVALID',
      `${setting}: cannot read ${path} (${(cause as NodeJS.ErrnoException).code ?? 'error'}); give the path of a readable JSON file`,
      { cause },
    );
  }
}

/** Reads and checks the policy and rules files; errors are SNT_CONFIG_INVALID naming the file and path. */
export function loadDetectionFiles(config: DetectionFiles): {
  policy: Policy;
  rules: CompiledRule[];
} {
  const policy = policyFromText(
    readSettingFile(config.policyFile, 'SENTINEL_PROCESSORS_POLICY_FILE'),
    config.policyFile,
  );
  const rules = rulesFromText(
    readSettingFile(config.rulesFile, 'SENTINEL_PROCESSORS_RULES_FILE'),
    config.rulesFile,
  );
  return { policy, rules };
}
