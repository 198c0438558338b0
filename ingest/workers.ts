import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from '../lib/log.js';
import { startServiceHttp } from '../lib/service/http.js';
import { type IngestServiceConfig, proxyIdOf } from './settings.js';

/**
 * One edge host, several worker processes (`SENTINEL_INGEST_WORKERS`). A process here may hold at
 * most 20,000 open files and one event loop uses one core, so a host serves more devices with one
 * worker per core or per ~19,000 connections. Each worker listens on the same port with a socket of
 * its own (SO_REUSEPORT: the kernel spreads new connections over them, see Edge's #listen); the
 * primary aggregates their metrics on the metrics port and restarts a worker that dies. Each worker
 * is a proxy of its own: its own Kafka producer and proxy id (`<proxy id>-w<n>`), sessions
 * coordinated through Redis as between hosts.
 */
interface WorkerMessage {
  readonly sentinel: 'ready' | 'not-ready';
}

export async function runIngestWorkers(options: {
  readonly workers: number;
  readonly metricsHost: string;
  readonly metricsPort: number;
  readonly config: IngestServiceConfig;
  readonly log: Logger;
}): Promise<{ stop(): Promise<void> }> {
  if (cluster.isWorker) {
    const index = Number(process.env.SENTINEL_INGEST_WORKER_INDEX ?? '0');
    // Loaded here: the primary only forks and aggregates metrics, and never maps the edge's clients.
    const { startIngest } = await import('./main.js');
    const ingest = await startIngest(
      {
        ...options.config,
        proxyId: `${proxyIdOf(options.config)}-w${index}`,
        // The primary serves the aggregated metrics; a worker's own server takes any free port.
        metricsPort: 0,
      },
      options.log,
      { index, of: options.workers },
    );
    // Constructing one installs the worker's answer to the primary's metric requests.
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([ingest.registry]);
    const report = () =>
      process.send?.({ sentinel: ingest.ready() ? 'ready' : 'not-ready' } satisfies WorkerMessage);
    const timer = setInterval(report, 1000);
    report();
    return {
      async stop() {
        clearInterval(timer);
        await ingest.stop();
      },
    };
  }

  const readiness = new Map<number, boolean>();
  let stopping = false;
  // Workers must share the auth cache's key, or a device's cached decision counts only on the
  // worker that stored it: without a configured secret, the primary draws one for all of them.
  const sharedCacheSecret =
    options.config.cacheSecret !== ''
      ? {}
      : { SENTINEL_AUTH_CACHE_SECRET: randomBytes(32).toString('base64url') };
  const fork = (index: number): Worker => {
    const worker = cluster.fork({ SENTINEL_INGEST_WORKER_INDEX: String(index), ...sharedCacheSecret });
    worker.on('message', (message: WorkerMessage) => {
      if (message?.sentinel) readiness.set(index, message.sentinel === 'ready');
    });
    worker.on('exit', (code, signal) => {
      readiness.set(index, false);
      if (stopping) return;
      options.log.error({ worker: index, code, signal }, 'ingest worker exited; starting another');
      setTimeout(() => fork(index), 1000);
    });
    return worker;
  };
  for (let index = 0; index < options.workers; index++) fork(index);

  const aggregator = new AggregatorRegistry();
  const http = await startServiceHttp({
    host: options.metricsHost,
    port: options.metricsPort,
    // AggregatorRegistry asks every worker for its metrics and sums them.
    registry: { metrics: () => aggregator.clusterMetrics(), contentType: aggregator.contentType },
    readiness: [
      {
        name: 'workers',
        check: () => readiness.size === options.workers && [...readiness.values()].every(Boolean),
      },
    ],
  });
  options.log.info({ workers: options.workers, metricsPort: http.port }, 'ingest workers starting');
  return {
    async stop() {
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      await Promise.all(
        workers.map(
          (worker) =>
            new Promise<void>((resolve) => {
              worker.once('exit', () => resolve());
              worker.process.kill('SIGTERM');
            }),
        ),
      );
      await http.close();
    },
  };
}
