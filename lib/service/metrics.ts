import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * One Prometheus registry per service process, passed to every module that declares metrics (no
 * global registry). Process metrics (CPU, memory, event-loop lag, handles) come with it.
 */
export function createMetricsRegistry(service: string, instance: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service, instance });
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  return registry;
}
