import { Command } from 'commander';
import { bridgeServiceSchema, loadBridgeConfig } from '../../bridge/settings.js';
import { addSettingFlags } from '../../lib/config.js';
import { createLogger } from '../../lib/log.js';
import { exitOnFatal, onShutdown } from '../../lib/service/lifecycle.js';

/**
 * `sentinel bridge`: sentinel.approved -> origin over MQTT-over-WebSocket (offsets committed after the
 * origin's PUBACK), origin subscriptions -> sentinel.downlink. More instances with the same group id
 * share the partitions.
 */
export function bridgeCommand(): Command {
  const command = new Command('bridge').description(
    'deliver approved messages to the origin over MQTT-over-WebSocket (committed after PUBACK) and write origin messages for devices to sentinel.downlink',
  );
  addSettingFlags(command, bridgeServiceSchema);
  return command.action(async (_options: unknown, cmd: Command) => {
    // The bridge's composition root: its one configuration, loaded once.
    const config = loadBridgeConfig({ env: process.env, flags: cmd.opts() });
    const log = createLogger({ name: 'bridge' });
    const { startBridge } = await import('../../bridge/main.js');
    const bridge = await startBridge(config, log, { onFatal: exitOnFatal(log) });
    console.log(`bridge: origin ${bridge.originUrl} over ${bridge.links.length} WebSocket connection(s)`);
    console.log(
      `bridge: metrics http://127.0.0.1:${bridge.metricsPort}/metrics (instance ${bridge.instanceId})`,
    );
    onShutdown({ log, graceMs: config.graceMs + 5000, drain: () => bridge.stop() });
  });
}
