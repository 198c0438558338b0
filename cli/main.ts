#!/usr/bin/env node
/**
 * `sentinel` entry point. It checks the Node it runs on before loading anything else: the commands
 * are imported only afterwards, so an older Node gets the refusal below, not a link or addon error.
 */
import { describeError } from '../lib/errors.js';
import { nodeRuntimeRefusal } from './node-runtime.js';

// kafkajs's admin client (topics, stack status) arms a timer with a negative delay from its clock
// arithmetic; Node warns and runs it after 1 ms. Harmless, and not for an operator's screen.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name !== 'TimeoutNegativeWarning') console.error(`(node) ${warning.name}: ${warning.message}`);
});

const refusal = nodeRuntimeRefusal(process.versions.node, process.execPath);
if (refusal) {
  console.error(`sentinel: ${describeError(refusal)}`);
  process.exit(1);
}
const { runCli } = await import('./program.js');
await runCli(process.argv);
