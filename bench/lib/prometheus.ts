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

export async function scrapeMetrics(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}
