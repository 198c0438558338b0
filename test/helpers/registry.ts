import type { Registry } from 'prom-client';

/** A metric of a registry, summed over the series whose labels include `labels` (0 when absent). */
export async function metricSum(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
  return values
    .filter((v) =>
      Object.entries(labels).every(([k, want]) => (v.labels as Record<string, string>)[k] === want),
    )
    .reduce((sum, v) => sum + v.value, 0);
}
