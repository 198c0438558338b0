/**
 * Per-message inspection time of the processor chain (validate -> patterns -> anomaly -> verdict)
 * on benign telemetry, on the attack corpus, and on payloads built to make the matchers work hard.
 * Prints P50 / P99 / worst per set. Run: npm run build && node dist/bench/inspect.bench.js
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { PacketEvent } from '../processors/model.js';
import { DEFAULT_POLICY } from '../processors/policy/policy.js';
import { MemoryRuntime } from '../processors/runtime/memory.js';
import { packetEvent, sessionOpened } from '../processors/test-events.js';
import { buildTopology } from '../processors/topology.js';
import { writeJsonResult } from './lib/output.js';

const { values: output } = parseArgs({ options: { json: { type: 'string' }, quick: { type: 'boolean' } } });

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

function corpus(name: string): Array<{ topic: string; payload: string }> {
  return readFileSync(join(repoRoot(), 'test', 'fixtures', 'corpora', name), 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { topic: string; payload: string });
}

let clock = 1_700_000_000_000;
function publish(topic: string, payload: Buffer | string): PacketEvent {
  clock += 1000;
  return packetEvent({
    clientId: topic.split('/')[1] ?? 'bench',
    username: null,
    sourceIp: '192.0.2.1',
    topic,
    payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
    receivedAt: clock,
  });
}

const KB10 = 10 * 1024;
const fill = (unit: string, size = KB10) => unit.repeat(Math.ceil(size / unit.length)).slice(0, size);
const inJson = (text: string) => JSON.stringify({ note: text });
const topic = 'devices/bench/telemetry';

function deepJson(depth: number): string {
  let value: unknown = "' or 1=1--";
  for (let i = 0; i < depth; i += 1) value = { k: value };
  return JSON.stringify(value);
}

/** Payloads aimed at each matcher's worst case, each about 10 KB (the default size cap). */
const adversarial: Array<[string, string]> = [
  ['tag opener flood "<a "', inJson(fill('<a '))],
  ['tag with attributes, no handler', inJson(`<a ${fill('x=y ')}`)],
  ['quote flood', inJson(fill("'"))],
  ['quote + word flood', inJson(fill("a' "))],
  ['"or 1=" flood', inJson(fill(' or 1='))],
  ['parenthesis flood', inJson(fill('('))],
  ['comment opener flood', inJson(fill('/*'))],
  ['separator flood ";|&"', inJson(fill(';|&'))],
  ['separator + space flood', inJson(fill('; '))],
  ['"../" flood', inJson(fill('../'))],
  ['"..\\\\" flood', inJson(fill('..\\'))],
  ['percent-encoding nest %2525...', inJson(fill('%25'))],
  ['entity flood &#x3c;', inJson(fill('&#x3c;'))],
  ['\\u escape flood', inJson(fill('\\u003c'))],
  ['"javascript" letters with spaces', inJson(fill('j a v a s c r i p t '))],
  ['"select " flood', inJson(fill('select '))],
  ['"union " flood', inJson(fill('union '))],
  ['event handler prefix flood', inJson(`<x ${fill(' onx')}`)],
  [
    '5,000 short keys',
    JSON.stringify(Object.fromEntries(Array.from({ length: 1200 }, (_, i) => [`k${i}`, 'v']))),
  ],
  ['JSON 30 deep', deepJson(30)],
  ['template opener flood "{{"', inJson(fill('{{'))],
  ['separator + command flood "1;cat "', inJson(fill('1;cat '))],
  ['key=value lines', Array.from({ length: 800 }, (_, i) => `sensor${i}=ok`).join('\n')],
  [
    '256 KiB JSON, 12,000 keys',
    JSON.stringify(
      Object.fromEntries(Array.from({ length: 12_000 }, (_, i) => [`key${i}`, `value ${i} ok`])),
    ),
  ],
  ['256 KiB text', fill("temp ok; door 'open' and ", 256 * 1024)],
  ['one 10 KB string of letters', inJson(fill('abcdefghij'))],
  ['64 KB text payload', fill("a' or ", 64 * 1024)],
  [
    'random binary 10 KB',
    Buffer.from(Array.from({ length: KB10 }, (_, i) => (i * 7919) % 256)).toString('latin1'),
  ],
];

function percentile(sorted: bigint[], p: number): bigint {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const us = (ns: bigint) => `${(Number(ns) / 1000).toFixed(1)} µs`;

interface InspectFigure {
  readonly set: string;
  readonly n: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly worstUs: number;
  readonly perSecondOneCore: number;
}
const figures: InspectFigure[] = [];

function measure(name: string, events: PacketEvent[], rounds: number): void {
  const runtime = new MemoryRuntime({ steps: buildTopology({ policy: DEFAULT_POLICY }) });
  // Each device's session first, so the admission step judges the PUBLISHes as the edge would send them.
  for (const clientId of new Set(events.map((event) => event.clientId)))
    runtime.pipe(sessionOpened(clientId));
  // Warm-up so the JIT has compiled the matchers before timing.
  for (const event of events.slice(0, 200)) runtime.pipe(event);
  const times: bigint[] = [];
  for (let r = 0; r < rounds; r += 1) {
    for (const event of events) {
      // A payload of its own each time, as from the wire: steps cache what they read of a buffer.
      const fresh = event.payload === null ? event : { ...event, payload: Buffer.from(event.payload) };
      const start = process.hrtime.bigint();
      runtime.pipe(fresh);
      times.push(process.hrtime.bigint() - start);
    }
  }
  times.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const total = times.reduce((a, b) => a + b, 0n);
  const perSecond = (times.length / (Number(total) / 1e9)).toFixed(0);
  const micros = (ns: bigint) => Math.round(Number(ns) / 100) / 10;
  figures.push({
    set: name,
    n: times.length,
    p50Us: micros(percentile(times, 50)),
    p99Us: micros(percentile(times, 99)),
    worstUs: micros(times[times.length - 1]!),
    perSecondOneCore: Number(perSecond),
  });
  console.log(
    `${name.padEnd(40)} n=${String(times.length).padStart(6)}  p50 ${us(percentile(times, 50)).padStart(10)}  p99 ${us(percentile(times, 99)).padStart(10)}  worst ${us(times[times.length - 1]!).padStart(10)}  (${perSecond} msg/s on one core)`,
  );
}

const benign = corpus('benign.jsonl').map((e) => publish(e.topic, e.payload));
const attacks = corpus('attacks.jsonl').map((e) => publish(e.topic, e.payload));
console.log(`inspect.bench: node ${process.version}, default policy and rules`);
measure('benign telemetry corpus', benign, 5);
measure('attack corpus', attacks, 5);
for (const [name, payload] of adversarial) {
  measure(
    `adversarial: ${name}`,
    Array.from({ length: 20 }, () => publish(topic, payload)),
    5,
  );
}
writeJsonResult(output.json, { bench: 'inspect', policy: 'default', results: figures });
