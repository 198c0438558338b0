import { type ConfigOf, type ConfigSources, loadConfig, refuseRetiredSettings } from '../lib/config.js';
import { endpointSchema } from '../lib/endpoints.js';
import { kafkaSecuritySchema } from '../lib/kafka/security.js';
import { authSchema } from './auth/settings.js';
import { rateLimitSchema } from './limits/settings.js';
import { ingestSchema, retiredIngestSettings } from './settings.js';

/**
 * The edge's one schema: its own settings, authentication, rate limits, Kafka security and the
 * engines it talks to. `sentinel ingest` loads it once (`loadIngestConfig`) and hands it to
 * `startIngest`. Settings only: the CLI reads it to build its flags without loading the edge.
 */
export const ingestServiceSchema = {
  ...ingestSchema,
  ...authSchema,
  ...rateLimitSchema,
  ...kafkaSecuritySchema,
  ...endpointSchema,
} as const;

export type IngestServiceConfig = ConfigOf<typeof ingestServiceSchema>;

/** The edge's configuration from flags and environment, once; a retired setting still set is refused. */
export function loadIngestConfig(sources: ConfigSources = {}): IngestServiceConfig {
  refuseRetiredSettings(sources.env ?? process.env, retiredIngestSettings);
  return loadConfig(ingestServiceSchema, sources);
}
