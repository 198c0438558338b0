import type { Registry } from 'prom-client';

/**
 * The metric named `name` in `registry`, declared by `make` the first time: two components of one
 * kind on one registry (two authenticators in a test, a cache and its authenticator) share a series
 * instead of failing on a duplicate name.
 */
export function metricOf<T>(registry: Registry, name: string, make: (name: string) => T): T {
  // prom-client types getSingleMetric loosely; the name is only ever declared by `make` here.
  return (registry.getSingleMetric(name) as T | undefined) ?? make(name);
}
