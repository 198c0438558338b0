import type { Admin, Kafka } from 'kafkajs';
import mysql from 'mysql2/promise';
import { hashPassword, type ScryptParams } from '../ingest/auth/password.js';
import { loadConfig } from '../lib/config.js';
import { migrateDeviceDb, parseMysqlUrl } from '../lib/devicedb/migrations.js';
import { createKafka } from '../lib/kafka/client.js';
import { createTopics, type TopicNames, topicNames, topicRoles } from '../lib/kafka/topics.js';
import { kafkaBootstrap, type StackConfig, stackSchema } from '../lib/stack/settings.js';
import { stackUp } from '../lib/stack/stack.js';

/**
 * What every pipeline benchmark sets up on the real platform: its own topics (12 partitions, the
 * topic contract), its own device database with devices in bulk, and the cleanup of both.
 */
export interface BenchWorld {
  readonly id: string;
  readonly platform: StackConfig;
  readonly prefix: string;
  readonly topics: TopicNames;
  readonly kafka: Kafka;
  readonly admin: Admin;
  readonly mysqlUrl: string;
  readonly db: mysql.Connection;
  /**
   * Devices with one shared scrypt hash (a bench, not a deployment) and a publish ACL on their own
   * namespace; `scrypt` lowers the hash cost where a bench measures connections, not the KDF.
   */
  addDevices(clientIds: readonly string[], password: string, scrypt?: ScryptParams): Promise<void>;
  dispose(): Promise<void>;
}

export async function openBenchWorld(name: string): Promise<BenchWorld> {
  const platform = loadConfig(stackSchema, { env: process.env });
  await stackUp(platform, () => undefined);
  const id = `bench_${name}_${Date.now().toString(36)}`;
  const prefix = `${id}.`;
  const topics = topicNames(prefix);
  const kafka = createKafka({ brokers: kafkaBootstrap(platform), clientId: `bench-${name}` });
  const admin = kafka.admin();
  await admin.connect();
  await createTopics(
    admin,
    topicRoles.map((role) => topics[role]),
    12,
  );
  const mysqlUrl = `mysql://root@127.0.0.1:3306/${id}`;
  await migrateDeviceDb(parseMysqlUrl(mysqlUrl));
  const db = await mysql.createConnection({ ...parseMysqlUrl(mysqlUrl) });
  return {
    id,
    platform,
    prefix,
    topics,
    kafka,
    admin,
    mysqlUrl,
    db,
    async addDevices(clientIds, password, scrypt) {
      const hash = await hashPassword(password, scrypt);
      for (let start = 0; start < clientIds.length; start += 1000) {
        const rows = clientIds.slice(start, start + 1000).map((clientId) => [clientId, clientId, hash]);
        await db.query('INSERT INTO devices (client_id, username, password_hash) VALUES ?', [rows]);
        await db.query('INSERT INTO device_acls (client_id, action, topic_pattern) VALUES ?', [
          rows.map(([clientId]) => [clientId, 'publish', 'devices/%c/#']),
        ]);
      }
    },
    async dispose() {
      await admin.deleteTopics({ topics: topicRoles.map((role) => topics[role]) });
      await admin.disconnect();
      await db.query(`DROP DATABASE \`${id}\``);
      await db.end();
    },
  };
}
