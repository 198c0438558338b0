import type { ParseArgsOptionsConfig } from 'node:util';
import type { LatencySummary } from './histogram.js';

/**
 * The load schedule every end-to-end scenario shares (floor, pipeline), so that their figures sit
 * side by side in one table: the same fixed rates for latency, and the same ladder for the
 * sustained rate (rates doubling until a step loses a message or its P99 exceeds the bound; the
 * highest passing rate is the sustained rate).
 */
export const scheduleOptions = {
  quick: { type: 'boolean', default: false },
  json: { type: 'string' },
  /** Seconds per ladder step. */
  seconds: { type: 'string' },
  'latency-rates': { type: 'string' },
  'latency-seconds': { type: 'string' },
  'ladder-start': { type: 'string' },
  'ladder-max': { type: 'string' },
  'latency-bound-ms': { type: 'string', default: '1000' },
} as const satisfies ParseArgsOptionsConfig;

export interface Schedule {
  readonly quick: boolean;
  readonly stepSeconds: number;
  readonly latencySeconds: number;
  readonly latencyRates: readonly number[];
  readonly latencyBoundMs: number;
}

export function scheduleFrom(
  values: {
    readonly quick?: boolean;
    readonly seconds?: string;
    readonly 'latency-rates'?: string;
    readonly 'latency-seconds'?: string;
    readonly 'latency-bound-ms'?: string;
  },
  fullLatencyRates: string,
): Schedule {
  const quick = values.quick ?? false;
  return {
    quick,
    stepSeconds: Number(values.seconds ?? (quick ? 3 : 5)),
    latencySeconds: Number(values['latency-seconds'] ?? (quick ? 3 : 15)),
    latencyRates: (values['latency-rates'] ?? (quick ? '100,1000' : fullLatencyRates)).split(',').map(Number),
    latencyBoundMs: Number(values['latency-bound-ms'] ?? 1000),
  };
}

/**
 * How long a step waits with nothing arriving before it counts the rest as lost (it returns at once
 * when everything arrived): longer than a consumer-group rebalance.
 */
export const deliveryQuietMs = 10_000;

/** One offered rate, as every end-to-end scenario measures it. */
export interface MeasuredStep {
  readonly rate: number;
  readonly seconds: number;
  readonly sent: number;
  readonly delivered: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly achievedPerSecond: number;
  /** Scheduled send -> receipt at the far end. */
  readonly latency: LatencySummary;
  /** How far the generator itself fell behind its schedule, at worst. */
  readonly generatorMaxBehindMs: number;
  /** CPU seconds each stage's processes used during the step. */
  readonly cpuSeconds: Record<string, number>;
  /** Nothing lost, everything sent, P99 within the bound. */
  readonly passed: boolean;
}

/** The columns every scenario's latency table has, in this order. */
export const latencyHeader = ['delivered', 'P50 ms', 'P95 ms', 'P99 ms', 'max ms'] as const;
export const latencyCells = (s: MeasuredStep): Array<string | number> => [
  `${s.delivered}/${s.sent}`,
  s.latency.p50Ms,
  s.latency.p95Ms,
  s.latency.p99Ms,
  s.latency.maxMs,
];

export interface Sustained<S> {
  readonly highestSustained: number | null;
  /** What stopped the ladder: the failing step's loss or P99, or the ladder's end. */
  readonly limitedBy: string;
  readonly steps: S[];
}

/** Runs `step` at rates doubling from `start` to `max`, stopping after the first step that fails. */
export async function climbLadder<S extends MeasuredStep>(
  start: number,
  max: number,
  step: (rate: number) => Promise<S>,
): Promise<Sustained<S>> {
  const steps: S[] = [];
  for (let rate = start; rate <= max; rate *= 2) {
    const result = await step(rate);
    steps.push(result);
    if (!result.passed) break;
  }
  const passing = steps.filter((s) => s.passed);
  const failing = steps.find((s) => !s.passed);
  return {
    highestSustained: passing.length > 0 ? Math.max(...passing.map((s) => s.rate)) : null,
    limitedBy: failing
      ? failing.lost > 0
        ? `${failing.rate}/s lost ${failing.lost}`
        : `${failing.rate}/s P99 ${failing.latency.p99Ms} ms`
      : `ladder ends at ${max}/s`,
    steps,
  };
}
