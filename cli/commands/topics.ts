import { Command } from 'commander';
import { addSettingFlags, type ConfigOf, loadConfig } from '../../lib/config.js';
import { endpointSchema, resolveEndpoints } from '../../lib/endpoints.js';
import { createKafka } from '../../lib/kafka/client.js';
import { kafkaSecurityOf, kafkaSecuritySchema } from '../../lib/kafka/security.js';
import {
  createTopics,
  describeTopics,
  topicList,
  topicNames,
  topicPurpose,
  topicRoles,
} from '../../lib/kafka/topics.js';
import { stackSchema } from '../../lib/local-platform.js';
import { renderTable } from '../output.js';

/** What `sentinel topics` reads: the local platform's settings, the brokers and Kafka security of the services. */
export const topicsSchema = {
  ...stackSchema,
  ...endpointSchema,
  ...kafkaSecuritySchema,
} as const;

type TopicsConfig = ConfigOf<typeof topicsSchema>;

function topicsConfigFrom(command: Command): TopicsConfig {
  return loadConfig(topicsSchema, { env: process.env, flags: command.opts() });
}

async function withAdmin<T>(
  config: TopicsConfig,
  work: (admin: ReturnType<ReturnType<typeof createKafka>['admin']>) => Promise<T>,
): Promise<T> {
  // The brokers and the TLS/SASL settings every service uses: SENTINEL_KAFKA_BROKERS when set, else
  // the local platform's.
  const admin = createKafka({
    brokers: resolveEndpoints(config).kafkaBrokers,
    clientId: 'sentinel-cli',
    retries: 3,
    security: kafkaSecurityOf(config),
  }).admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect();
  }
}

export function topicsCommand(): Command {
  const topics = new Command('topics').description(
    'the sentinel Kafka topics: 72 h retention, replication 3, min.insync.replicas 2',
  );

  addSettingFlags(
    topics
      .command('create')
      .description('create missing topics and restore the contract configs of existing ones')
      .action(async (_options: unknown, command: Command) => {
        const config = topicsConfigFrom(command);
        const names = topicNames(config.topicPrefix);
        const result = await withAdmin(config, (admin) =>
          createTopics(admin, topicList(names), config.kafkaPartitions),
        );
        console.log(
          `created: ${result.created.join(', ') || 'none'}; configs restored: ${result.updated.join(', ') || 'none'}`,
        );
      }),
    topicsSchema,
  );

  addSettingFlags(
    topics
      .command('describe')
      .description('print what the cluster reports for each topic (partitions, replicas, ISR, configs)')
      .option('--json', 'print JSON')
      .action(async (options: { json?: boolean }, command: Command) => {
        const config = topicsConfigFrom(command);
        const names = topicNames(config.topicPrefix);
        const described = await withAdmin(config, (admin) => describeTopics(admin, topicList(names)));
        if (options.json) {
          console.log(JSON.stringify(described, null, 2));
          return;
        }
        console.log(
          renderTable(
            [
              'topic',
              'partitions',
              'replicas',
              'min ISR now',
              'min.insync.replicas',
              'retention.ms',
              'purpose',
            ],
            described.map((topic, i) => [
              topic.name,
              String(topic.partitions),
              String(topic.replicationFactor),
              String(topic.minIsr),
              topic.configs['min.insync.replicas'] ?? '?',
              topic.configs['retention.ms'] ?? '?',
              topicPurpose[topicRoles[i]!],
            ]),
          ),
        );
      }),
    topicsSchema,
  );
  return topics;
}
