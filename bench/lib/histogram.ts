import hdr from 'hdr-histogram-js';

/**
 * Latency in microseconds in an HdrHistogram (3 significant digits, up to one hour), so a load
 * process can send its whole distribution to the suite compactly and the suite can merge the
 * distributions of several processes before reading percentiles: averaging percentiles is wrong.
 */
export type LatencyHistogram = hdr.Histogram;

export function latencyHistogram(): LatencyHistogram {
  return hdr.build({
    bitBucketSize: 64,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
}

export function recordMicros(histogram: LatencyHistogram, micros: number): void {
  histogram.recordValue(Math.min(3_600_000_000, Math.max(1, Math.round(micros))));
}

export const encodeHistogram = (histogram: LatencyHistogram): string =>
  hdr.encodeIntoCompressedBase64(histogram);

export function mergeHistograms(encoded: readonly string[]): LatencyHistogram {
  const merged = latencyHistogram();
  for (const text of encoded) merged.add(hdr.decodeFromCompressedBase64(text, 64, false));
  return merged;
}

/** What the tables and the JSON carry of a distribution, in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

export function summarise(histogram: LatencyHistogram): LatencySummary {
  const ms = (micros: number) => Math.round(micros / 10) / 100;
  return {
    count: histogram.totalCount,
    p50Ms: ms(histogram.getValueAtPercentile(50)),
    p95Ms: ms(histogram.getValueAtPercentile(95)),
    p99Ms: ms(histogram.getValueAtPercentile(99)),
    p999Ms: ms(histogram.getValueAtPercentile(99.9)),
    maxMs: ms(histogram.maxValue),
  };
}

/** Microseconds on CLOCK_MONOTONIC, which every process on this machine shares. */
export const monotonicMicros = (): number => Number(process.hrtime.bigint() / 1000n);
