import cluster from 'node:cluster';
import { Command } from 'commander';
import { ingestServiceSchema, loadIngestConfig } from '../../ingest/settings.js';
import { addSettingFlags } from '../../lib/config.js';
import { createLogger } from '../../lib/log.js';
import { onShutdown } from '../../lib/service/lifecycle.js';

export function ingestCommand(): Command {
  const command = new Command('ingest').description(
    'run one edge proxy: MQTT 3.1.1 over TCP and TLS, authentication, rate limits, validation, every packet into Kafka',
  );
  addSettingFlags(command, ingestServiceSchema);
  return command.action(async (_options: unknown, cmd: Command) => {
    // The edge's composition root: its one configuration, loaded once.
    const config = loadIngestConfig({ env: process.env, flags: cmd.opts() });
    const log = createLogger({ name: 'ingest' });
    if (config.workers > 1 || cluster.isWorker) {
      const { runIngestWorkers } = await import('../../ingest/workers.js');
      const workers = await runIngestWorkers({
        workers: config.workers,
        metricsHost: config.host,
        metricsPort: config.metricsPort,
        config,
        log,
      });
      if (cluster.isPrimary) {
        console.log(
          `ingest: ${config.workers} workers on mqtt://${config.host}:${config.port}; metrics http://127.0.0.1:${config.metricsPort}/metrics`,
        );
      }
      onShutdown({ log, graceMs: 30_000, drain: () => workers.stop() });
      return;
    }
    const { startIngest } = await import('../../ingest/main.js');
    const ingest = await startIngest(config, log);
    for (const listener of ingest.listeners)
      console.log(`ingest: ${listener.name}://${listener.host}:${listener.port}`);
    console.log(`ingest: metrics http://127.0.0.1:${ingest.metricsPort}/metrics (proxy ${ingest.proxyId})`);
    onShutdown({ log, graceMs: 30_000, drain: () => ingest.stop() });
  });
}
