import { type ConfigOf, type ConfigSources, loadConfig } from '../lib/config.js';
import { endpointSchema } from '../lib/endpoints.js';
import { stackSchema } from '../lib/local-platform.js';
import { bridgeSchema } from './settings.js';

/**
 * The bridge's one schema: its own settings, the engines it talks to, and where the local
 * platform's origin is when none is configured (its WebSocket port, the state directory holding
 * the bridge's account there). `sentinel bridge` loads it once (`loadBridgeConfig`). Settings
 * only: the CLI reads it to build its flags without loading the bridge.
 */
export const bridgeServiceSchema = {
  ...bridgeSchema,
  ...endpointSchema,
  originWsPort: stackSchema.originWsPort,
  originMqttPort: stackSchema.originMqttPort,
  stateDir: stackSchema.stateDir,
} as const;

export type BridgeServiceConfig = ConfigOf<typeof bridgeServiceSchema>;

export function loadBridgeConfig(sources: ConfigSources = {}): BridgeServiceConfig {
  return loadConfig(bridgeServiceSchema, sources);
}
