import type { StackConfig } from '../../lib/local-platform.js';
import { brokerIndexes, jmxExporterPort } from '../../platform/kafka.js';

/**
 * Reading a service's own histograms from its /metrics text: quantiles the way Prometheus'
 * histogram_quantile() computes them (linear within a bucket), summed over every series of the
 * metric that carries the given label pairs.
 */
export function histogramQuantile(
  metricsText: string,
  name: string,
  quantile: number,
  labels: Readonly<Record<string, string>> = {},
  /** An earlier scrape of the same service: only what was observed since then counts. */
  baselineText = '',
): number {
  const byBound = bucketCounts(metricsText, name, labels);
  for (const [bound, count] of bucketCounts(baselineText, name, labels)) {
    byBound.set(bound, (byBound.get(bound) ?? 0) - count);
  }
  const buckets = [...byBound.entries()].sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total <= 0) return Number.NaN;
  const rank = quantile * total;
  let previousBound = 0;
  let previousCount = 0;
  for (const [bound, count] of buckets) {
    if (count >= rank) {
      if (bound === Number.POSITIVE_INFINITY) return previousBound;
      return (
        previousBound +
        ((bound - previousBound) * (rank - previousCount)) / Math.max(1, count - previousCount)
      );
    }
    previousBound = bound;
    previousCount = count;
  }
  return previousBound;
}

function bucketCounts(
  metricsText: string,
  name: string,
  labels: Readonly<Record<string, string>>,
): Map<number, number> {
  const byBound = new Map<number, number>();
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const labelText = line.slice(line.indexOf('{') + 1, line.lastIndexOf('}'));
    const pairs = Object.fromEntries([...labelText.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).some(([k, v]) => pairs[k] !== v)) continue;
    const le = pairs.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(pairs.le);
    const count = Number(line.slice(line.lastIndexOf(' ') + 1));
    byBound.set(le, (byBound.get(le) ?? 0) + count);
  }
  return byBound;
}

/** A service's /metrics text; with `timeoutMs`, a scrape that takes longer is an error, not a hang. */
export async function scrapeMetrics(port: number, timeoutMs?: number): Promise<string> {
  const signal = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
  return (await fetch(`http://127.0.0.1:${port}/metrics`, { signal })).text();
}

/**
 * The sum of every sample of a counter or gauge, whatever its labels; null when the text has none.
 * Samples without timestamps (what prom-client and the JMX exporter write): the value is the last field.
 */
export function metricTotal(metricsText: string, name: string): number | null {
  let total: number | null = null;
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(`${name} `) && !line.startsWith(`${name}{`)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total = (total ?? 0) + value;
  }
  return total;
}

/**
 * The local brokers' JIT compilation time so far, in seconds: HotSpot's figure (elapsed time of
 * every compilation, summed over each broker's compiler threads, so it grows while they wait for a
 * core and can exceed the wall time), from each broker's JMX exporter, summed over the brokers;
 * null when one of them does not answer. Read before and after a step, it says whether that step
 * measured warm brokers or their compiling: after a start they compile for minutes of traffic
 * (docs/performance.md).
 */
export async function brokersCompileSeconds(config: Pick<StackConfig, 'kafkaPort'>): Promise<number | null> {
  try {
    const texts = await Promise.all(
      brokerIndexes.map((index) => scrapeMetrics(jmxExporterPort(config, index), 5000)),
    );
    const seconds = texts.map((text) => metricTotal(text, 'jvm_compilation_time_seconds_total'));
    return seconds.every((s) => s !== null) ? seconds.reduce((sum, s) => sum + (s ?? 0), 0) : null;
  } catch {
    return null;
  }
}

/**
 * The JIT seconds between two reads of brokersCompileSeconds, to a tenth; null when either read
 * failed or the total fell (a broker restarted and its counter began again).
 */
export function jitDuring(before: number | null, after: number | null): number | null {
  if (before === null || after === null || after < before) return null;
  return Math.round((after - before) * 10) / 10;
}
