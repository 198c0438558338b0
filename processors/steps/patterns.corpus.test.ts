import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { PacketEvent } from '../model.js';
import { DEFAULT_POLICY } from '../policy/policy.js';
import { packetEvent } from '../test-events.js';
import { createPatternsStep } from './patterns.js';

/** The repository root, found from the compiled file (dist/processors/steps) or the source. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

interface CorpusLine {
  readonly topic: string;
  readonly payload: string;
  readonly class?: string;
  readonly variant?: string;
  readonly base?: string;
  readonly kind?: string;
}

function readCorpus(name: string): CorpusLine[] {
  const text = readFileSync(join(repoRoot(), 'test', 'fixtures', 'corpora', name), 'utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as CorpusLine);
}

function publish(line: CorpusLine): PacketEvent {
  return packetEvent({
    clientId: line.topic.split('/')[1] ?? 'dev',
    username: null,
    sourceIp: '192.0.2.1',
    topic: line.topic,
    payload: Buffer.from(line.payload, 'utf8'),
    receivedAt: 0,
  });
}

const noState = { device: undefined, source: undefined };
const noContext = {
  packetRef: { topic: 't', partition: 0, offset: '0' },
  now: () => 0,
  findings: [],
  emitVerdict: () => {},
  emitApproved: () => {},
};

test('the patterns step detects at least 99% of each attack class and flags at most 0.1% of benign telemetry', () => {
  const step = createPatternsStep({ policy: DEFAULT_POLICY });
  const attacks = readCorpus('attacks.jsonl');
  const benign = readCorpus('benign.jsonl');
  const perClass = new Map<string, { total: number; detected: number; missed: CorpusLine[] }>();
  for (const line of attacks) {
    const findings = step.process(publish(line), noState, noContext);
    const stats = perClass.get(line.class!) ?? { total: 0, detected: 0, missed: [] };
    stats.total += 1;
    if (findings.some((f) => f.class === line.class)) stats.detected += 1;
    else stats.missed.push(line);
    perClass.set(line.class!, stats);
  }
  const falsePositives: Array<{ line: CorpusLine; rules: string }> = [];
  for (const line of benign) {
    const findings = step.process(publish(line), noState, noContext);
    if (findings.length > 0)
      falsePositives.push({ line, rules: findings.map((f) => `${f.ruleId}:${f.evidence}`).join(' ') });
  }
  const report: string[] = [];
  for (const [attackClass, stats] of perClass) {
    report.push(
      `${attackClass}: ${stats.detected}/${stats.total} detected (${((100 * stats.detected) / stats.total).toFixed(2)}%)`,
    );
    for (const missed of stats.missed.slice(0, 20))
      report.push(`  missed [${missed.variant}] ${missed.base} -> ${missed.payload.slice(0, 160)}`);
  }
  const fpRate = (100 * falsePositives.length) / benign.length;
  report.push(
    `benign: ${falsePositives.length}/${benign.length} flagged (${fpRate.toFixed(3)}% false positives)`,
  );
  for (const fp of falsePositives.slice(0, 20))
    report.push(`  false positive [${fp.line.kind}] ${fp.line.payload.slice(0, 160)} :: ${fp.rules}`);
  console.log(report.join('\n'));

  assert.ok(perClass.size === 4, 'the corpus has the four attack classes');
  for (const [attackClass, stats] of perClass) {
    assert.ok(stats.total >= 200, `${attackClass} corpus has at least 200 payloads`);
    assert.ok(
      stats.detected / stats.total >= 0.99,
      `${attackClass} detection ${stats.detected}/${stats.total} below 99%`,
    );
  }
  assert.ok(benign.length >= 2000, 'the benign corpus has at least 2,000 messages');
  assert.ok(
    falsePositives.length / benign.length <= 0.001,
    `false positives ${falsePositives.length}/${benign.length} above 0.1%`,
  );
});
