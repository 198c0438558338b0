/**
 * `npm test`: every test in one `node --test` run, so the runner prints one summary.
 * Unit tests (beside their modules) come first, then integration tests against the real local
 * platform, then fault tests that stop and restart brokers. Contract suites (test/contract/) run
 * once per implementation: `<interface>.memory.test.ts` holds a test double to the contract and
 * needs no service, so it is a unit test; the others (MySQL, Redis...) are integration tests. The platform is started first when it
 * is not already running, and stopped again at the end only if this run started it.
 * Flags: --unit (unit tests only, no platform), --keep (leave a platform this run started).
 * Brokers this run (or a fault test) starts are not warmed (SENTINEL_KAFKA_WARMUP_SECONDS=0 unless
 * set): the warm-up is for figures measured right after a start, tests wait for conditions, and it
 * would add up to 150 s per start. test/integration/warmup.test.ts runs it directly.
 */
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const distRoot = join(fileURLToPath(import.meta.url), '..', '..');
const args = new Set(process.argv.slice(2));

function findTests(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith('.test.js')) found.push(path);
  }
  return found.sort();
}

function phaseOf(path: string): number {
  const rel = relative(distRoot, path).split(sep);
  if (rel[0] !== 'test') return 0;
  if (rel[1] === 'contract' && rel.at(-1)?.endsWith('.memory.test.js')) return 0;
  return rel[1] === 'fault' ? 2 : 1;
}

const env = {
  ...process.env,
  SENTINEL_KAFKA_WARMUP_SECONDS: process.env.SENTINEL_KAFKA_WARMUP_SECONDS ?? '0',
};

function run(command: string, argv: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command, argv, { stdio: 'inherit', env });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const all = findTests(distRoot);
const files = args.has('--unit')
  ? all.filter((f) => phaseOf(f) === 0)
  : all.sort((a, b) => phaseOf(a) - phaseOf(b));
const needsPlatform = files.some((f) => phaseOf(f) > 0);
const cli = join(distRoot, 'cli', 'main.js');

let startedPlatform = false;
if (needsPlatform) {
  const wasUp = (await run(process.execPath, [cli, 'stack', 'status', '--quiet'])) === 0;
  if (!wasUp) {
    if ((await run(process.execPath, [cli, 'stack', 'up'])) !== 0) {
      console.error('run-tests: the local platform did not start; see the messages above');
      process.exit(1);
    }
    startedPlatform = true;
  }
}

const code = await run(process.execPath, [
  '--enable-source-maps',
  '--test',
  '--test-concurrency=1',
  ...files,
]);

if (startedPlatform && !args.has('--keep') && !process.env.SENTINEL_TEST_KEEP_STACK) {
  await run(process.execPath, [cli, 'stack', 'down']);
}
process.exit(code);
