import cluster from 'node:cluster';
import { Command } from 'commander';
import { ingestSchemas, startIngest } from '../../ingest/main.js';
import { ingestSchema } from '../../ingest/settings.js';
import { runIngestWorkers } from '../../ingest/workers.js';
import { addSettingFlags, loadConfig } from '../../lib/config.js';
import { endpointSchema } from '../../lib/endpoints.js';
import { createLogger } from '../../lib/log.js';
import { onShutdown } from '../../lib/service/lifecycle.js';

export function ingestCommand(): Command {
  const command = new Command('ingest').description(
    'run one edge proxy: MQTT 3.1.1 over TCP and TLS, authentication, rate limits, validation, every packet into Kafka',
  );
  for (const schema of [...ingestSchemas, endpointSchema]) addSettingFlags(command, schema);
  return command.action(async (_options: unknown, cmd: Command) => {
    const sources = { env: process.env, flags: cmd.opts() };
    const config = loadConfig(ingestSchema, sources);
    const log = createLogger({ name: 'ingest' });
    if (config.workers > 1 || cluster.isWorker) {
      const workers = await runIngestWorkers({
        workers: config.workers,
        metricsHost: config.host,
        metricsPort: config.metricsPort,
        sources,
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
    const ingest = await startIngest(sources, log);
    for (const listener of ingest.listeners)
      console.log(`ingest: ${listener.name}://${listener.host}:${listener.port}`);
    console.log(`ingest: metrics http://127.0.0.1:${ingest.metricsPort}/metrics (proxy ${ingest.proxyId})`);
    onShutdown({ log, graceMs: 30_000, drain: () => ingest.stop() });
  });
}
