/**
 * Detection quality of the processors' chain on the HELD-OUT set (test/fixtures/heldout/cases.jsonl):
 * every case through `new OfflineInspector({ policy: DEFAULT_POLICY })`, one client id per case.
 * A case counts as detected (attack labels) or as a false positive (benign labels) when the
 * decision is `block` or `quarantine`. Prints the rate per label with a 95 % Wilson interval, the
 * sources with the most misses and the most false positives, and cases/s inspected.
 * The held-out set is for reporting only: never tune rules against it.
 *
 *   npm run build && node dist/bench/detection.bench.js [--cases FILE] [--json FILE]
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { projectRoot } from '../lib/local-platform.js';
import type { FindingClass } from '../processors/model.js';
import { type InspectCase, OfflineInspector, parseInspectLine } from '../processors/offline.js';
import { DEFAULT_POLICY } from '../processors/policy/policy.js';
import { formatTable, writeJsonResult } from './lib/output.js';
import { type Interval, wilsonInterval } from './lib/wilson.js';

/** Attack labels and the finding classes that name them (a detection by another class still counts). */
const ATTACK_LABELS: Readonly<Record<string, readonly FindingClass[]>> = {
  sqli: ['sqli'],
  xss: ['xss'],
  'command-injection': ['command-injection'],
  'path-traversal': ['path-traversal'],
  entropy: ['entropy'],
  oversize: ['size', 'payload-policy'],
};
const BENIGN_LABELS: readonly string[] = ['benign-iot', 'benign-text'];
const MISS_ROWS = 15;
const FALSE_POSITIVE_ROWS = 10;

// --quick is accepted for the suite and changes nothing: the whole set takes about two seconds.
const { values: options } = parseArgs({
  options: { json: { type: 'string' }, cases: { type: 'string' }, quick: { type: 'boolean' } },
});

interface LabelledCase {
  readonly item: InspectCase;
  readonly label: string;
  readonly source: string;
  readonly attack: boolean;
}

function readCases(path: string): LabelledCase[] {
  const cases: LabelledCase[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    const item = parseInspectLine(line, index + 1);
    const record = JSON.parse(line) as { label?: unknown; source?: unknown };
    const label = record.label;
    if (typeof label !== 'string' || !(label in ATTACK_LABELS || BENIGN_LABELS.includes(label)))
      throw new Error(
        `${path} line ${index + 1}: "label" must be one of ${[...Object.keys(ATTACK_LABELS), ...BENIGN_LABELS].join(', ')}`,
      );
    const source = typeof record.source === 'string' && record.source !== '' ? record.source : label;
    cases.push({ item, label, source, attack: label in ATTACK_LABELS });
  });
  return cases;
}

interface Tally {
  n: number;
  /** Decision `block` or `quarantine`: a detection for attacks, a false positive for benign cases. */
  positive: number;
  /** Attacks only: detected with a finding of the label's own class. */
  ownClass: number;
  /** Acting finding classes over the positive cases. */
  readonly classes: Map<string, number>;
  readonly label: string;
  readonly attack: boolean;
}

const newTally = (label: string, attack: boolean): Tally => ({
  n: 0,
  positive: 0,
  ownClass: 0,
  classes: new Map(),
  label,
  attack,
});

const casesPath = options.cases
  ? resolve(options.cases)
  : join(projectRoot, 'test', 'fixtures', 'heldout', 'cases.jsonl');
if (!existsSync(casesPath)) {
  console.error(
    `detection bench: ${casesPath} does not exist; run node dist/test/fixtures/heldout/generate.js first`,
  );
  process.exit(1);
}
const cases = readCases(casesPath);

const clientIds = new Map<string, number>();
for (const c of cases) clientIds.set(c.item.clientId, (clientIds.get(c.item.clientId) ?? 0) + 1);
const sharedClients = [...clientIds.values()].filter((count) => count > 1).length;
if (sharedClients > 0)
  console.warn(
    `detection bench: ${sharedClients} client ids carry more than one case; per-device state (baselines, warm-up) builds up across them`,
  );

const inspector = new OfflineInspector({ policy: DEFAULT_POLICY });
const byLabel = new Map<string, Tally>();
const bySource = new Map<string, Tally>();
const decisions = { allow: 0, quarantine: 0, block: 0 };

const started = process.hrtime.bigint();
for (const c of cases) {
  const result = inspector.inspect(c.item);
  decisions[result.decision] += 1;
  const positive = result.decision !== 'allow';
  const own = c.attack && (ATTACK_LABELS[c.label] ?? []).some((cls) => result.classes.includes(cls));
  for (const [map, key] of [
    [byLabel, c.label],
    [bySource, c.source],
  ] as const) {
    let tally = map.get(key);
    if (!tally) {
      tally = newTally(c.label, c.attack);
      map.set(key, tally);
    }
    tally.n += 1;
    if (!positive) continue;
    tally.positive += 1;
    if (own) tally.ownClass += 1;
    for (const cls of result.classes) tally.classes.set(cls, (tally.classes.get(cls) ?? 0) + 1);
  }
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const casesPerSecond = cases.length / seconds;

// ---------------------------------------------------------------------------------------------
// Output

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const ci = (interval: Interval) =>
  `[${(interval.lower * 100).toFixed(1)}, ${(interval.upper * 100).toFixed(1)}]`;
const topClasses = (classes: Map<string, number>, limit = 3) =>
  [...classes]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, limit)
    .map(([cls, n]) => `${cls} ${n}`)
    .join(', ');

interface RateRow {
  readonly key: string;
  readonly label: string;
  readonly n: number;
  readonly positive: number;
  readonly rate: number;
  readonly ci95: Interval;
  readonly ownClass?: number;
  readonly classes: Record<string, number>;
}

function rateRow(key: string, tally: Tally): RateRow {
  // For attacks the rate is the detection rate; for benign cases it is the false-positive rate.
  return {
    key,
    label: tally.label,
    n: tally.n,
    positive: tally.positive,
    rate: tally.n === 0 ? Number.NaN : tally.positive / tally.n,
    ci95: wilsonInterval(tally.positive, tally.n),
    ...(tally.attack ? { ownClass: tally.ownClass } : {}),
    classes: Object.fromEntries([...tally.classes].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
  };
}

function sumOf(attack: boolean): Tally {
  const sum = newTally(attack ? 'all attacks' : 'all benign', attack);
  for (const t of byLabel.values()) {
    if (t.attack !== attack) continue;
    sum.n += t.n;
    sum.positive += t.positive;
    sum.ownClass += t.ownClass;
    for (const [cls, n] of t.classes) sum.classes.set(cls, (sum.classes.get(cls) ?? 0) + n);
  }
  return sum;
}

const labelOrder = [...Object.keys(ATTACK_LABELS), ...BENIGN_LABELS];
const attackRows = labelOrder.filter((l) => byLabel.get(l)?.attack).map((l) => rateRow(l, byLabel.get(l)!));
const benignRows = labelOrder
  .filter((l) => byLabel.has(l) && !byLabel.get(l)!.attack)
  .map((l) => rateRow(l, byLabel.get(l)!));
const attackTotal = rateRow('all attacks', sumOf(true));
const benignTotal = rateRow('all benign', sumOf(false));

const missRows = [...bySource]
  .filter(([, t]) => t.attack && t.n - t.positive > 0)
  .sort((a, b) => b[1].n - b[1].positive - (a[1].n - a[1].positive) || a[0].localeCompare(b[0]))
  .slice(0, MISS_ROWS)
  .map(([source, t]) => rateRow(source, t));
const falsePositiveRows = [...bySource]
  .filter(([, t]) => !t.attack && t.positive > 0)
  .sort((a, b) => b[1].positive - a[1].positive || a[0].localeCompare(b[0]))
  .slice(0, FALSE_POSITIVE_ROWS)
  .map(([source, t]) => rateRow(source, t));

console.log(`held-out detection: ${cases.length.toLocaleString('en-US')} cases from ${casesPath}`);
console.log('');
console.log('Detection rate per attack label (detected = block or quarantine)');
console.log(
  formatTable(
    ['label', 'n', 'detected', 'rate', '95% CI', 'own class', 'acting classes (top 3)'],
    [...attackRows, attackTotal].map((r) => [
      r.key,
      r.n,
      r.positive,
      pct(r.rate),
      ci(r.ci95),
      r.ownClass ?? 0,
      topClasses(new Map(Object.entries(r.classes))),
    ]),
  ),
);
console.log('');
/** A row of the false-positive tables: label or source, cases, flagged, rate, interval, classes. */
function flaggedRow(r: (typeof benignRows)[number]) {
  return [r.key, r.n, r.positive, pct(r.rate), ci(r.ci95), topClasses(new Map(Object.entries(r.classes)))];
}
console.log('False-positive rate per benign label (false positive = not allow)');
console.log(
  formatTable(
    ['label', 'n', 'flagged', 'FP rate', '95% CI', 'acting classes (top 3)'],
    [...benignRows, benignTotal].map(flaggedRow),
  ),
);
console.log('');
console.log(`Sources with the most misses (top ${MISS_ROWS})`);
console.log(
  missRows.length === 0
    ? '(none)'
    : formatTable(
        ['source', 'n', 'missed', 'detection', '95% CI'],
        missRows.map((r) => [r.key, r.n, r.n - r.positive, pct(r.rate), ci(r.ci95)]),
      ),
);
console.log('');
console.log(`Sources with the most false positives (top ${FALSE_POSITIVE_ROWS})`);
console.log(
  falsePositiveRows.length === 0
    ? '(none)'
    : formatTable(
        ['source', 'n', 'flagged', 'FP rate', '95% CI', 'acting classes (top 3)'],
        falsePositiveRows.map(flaggedRow),
      ),
);
console.log('');
console.log(
  `decisions: allow ${decisions.allow}, quarantine ${decisions.quarantine}, block ${decisions.block}; ` +
    `${Math.round(casesPerSecond).toLocaleString('en-US')} cases/s inspected (${seconds.toFixed(2)} s, one core)`,
);

writeJsonResult(options.json, {
  scenario: 'detection',
  casesFile: casesPath,
  cases: cases.length,
  seconds,
  casesPerSecond,
  decisions,
  attacks: { labels: attackRows, total: attackTotal },
  benign: { labels: benignRows, total: benignTotal },
  sources: [...bySource]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([source, t]) => ({ ...rateRow(source, t), attack: t.attack })),
  missesBySource: missRows,
  falsePositivesBySource: falsePositiveRows,
});
