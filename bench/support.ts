import { Redis } from 'ioredis';
import type { Admin, Kafka } from 'kafkajs';
import mysql from 'mysql2/promise';
import { hashPassword, type ScryptParams } from '../ingest/auth/password.js';
import { loadConfig } from '../lib/config.js';
import { migrateDeviceDb, parseMysqlUrl } from '../lib/devicedb/migrations.js';
import { createKafka } from '../lib/kafka/client.js';
import { createTopics, type TopicNames, topicList, topicNames } from '../lib/kafka/topics.js';
import { kafkaBootstrap, registryUrl, type StackConfig, stackSchema } from '../lib/local-platform.js';
import { stackUp } from '../platform/stack.js';
import { deleteKeysWithPrefix } from '../test/helpers/redis-keys.js';
import type { ScenarioCleanup } from './lib/cleanup.js';
import { deleteGroupsNamed, deleteTopicsNamed } from './lib/leftovers.js';

/**
 * What every pipeline benchmark sets up on the real platform: its own topics (the platform's
 * partition count, SENTINEL_KAFKA_PARTITIONS; replication 3), its own device database with devices
 * in bulk, and the removal of everything the run leaves in shared services: those topics, the consumer groups and the Redis keys named after
 * the run's id, the registry subjects of its topics, the database.
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
  /** Devices that may publish to devices/%c/# and subscribe to `subscribe` (none by default). */
  addDevices(
    clientIds: readonly string[],
    password: string,
    scrypt?: ScryptParams,
    subscribe?: readonly string[],
  ): Promise<void>;
  /** Removes what the run created; safe to call on a world only half set up, and more than once. */
  dispose(): Promise<void>;
}

/**
 * With `cleanup`, the removal is registered before anything is created, so a failure half-way
 * through setting up (or later) still removes what exists.
 */
export async function openBenchWorld(name: string, cleanup?: ScenarioCleanup): Promise<BenchWorld> {
  const platform = loadConfig(stackSchema, { env: process.env });
  await stackUp(platform, () => undefined);
  const id = `bench_${name}_${Date.now().toString(36)}`;
  const prefix = `${id}.`;
  const topics = topicNames(prefix);
  const kafka = createKafka({ brokers: kafkaBootstrap(platform), clientId: `bench-${name}` });
  const admin = kafka.admin();
  const mysqlUrl = `mysql://root@127.0.0.1:3306/${id}`;
  let db: mysql.Connection | null = null;
  let disposed: Promise<void> | null = null;
  const dispose = () => {
    disposed ??= removeWorld({ id, prefix, platform, admin, mysqlUrl, db });
    return disposed;
  };
  cleanup?.add(`topics and subjects ${prefix}*, groups ${id}-*, database ${id}, Redis keys ${id}:*`, dispose);
  await admin.connect();
  await createTopics(admin, topicList(topics), platform.kafkaPartitions);
  await migrateDeviceDb(parseMysqlUrl(mysqlUrl));
  db = await mysql.createConnection({ ...parseMysqlUrl(mysqlUrl) });
  const connection = db;
  return {
    id,
    platform,
    prefix,
    topics,
    kafka,
    admin,
    mysqlUrl,
    db: connection,
    async addDevices(clientIds, password, scrypt, subscribe = []) {
      const hash = await hashPassword(password, scrypt);
      for (let start = 0; start < clientIds.length; start += 1000) {
        const rows = clientIds.slice(start, start + 1000).map((clientId) => [clientId, clientId, hash]);
        await connection.query('INSERT INTO devices (client_id, username, password_hash) VALUES ?', [rows]);
        await connection.query('INSERT INTO device_acls (client_id, action, topic_pattern) VALUES ?', [
          rows.flatMap(([clientId]) => [
            [clientId, 'publish', 'devices/%c/#'],
            ...subscribe.map((pattern) => [clientId, 'subscribe', pattern]),
          ]),
        ]);
      }
    },
    dispose,
  };
}

/** Every step is tried whatever the others did; what could not be removed is named in the error. */
async function removeWorld(world: {
  readonly id: string;
  readonly prefix: string;
  readonly platform: StackConfig;
  readonly admin: Admin;
  readonly mysqlUrl: string;
  readonly db: mysql.Connection | null;
}): Promise<void> {
  const { id, admin } = world;
  const failures: string[] = [];
  const attempt = async (what: string, step: () => Promise<unknown>) => {
    try {
      await step();
    } catch (err) {
      failures.push(`${what}: ${(err as Error).message}`);
    }
  };
  await attempt('consumer groups', () => deleteGroupsNamed(admin, `${id}-`));
  // The contract's topics and those the services add under the same prefix (the processors' changelog).
  await attempt('topics', () => deleteTopicsNamed(admin, world.prefix));
  await attempt('registry subjects', async () => {
    const listed = await fetch(`${registryUrl(world.platform)}/subjects`);
    if (!listed.ok) throw new Error(`GET subjects: ${listed.status}`);
    const subjects = ((await listed.json()) as string[]).filter((name) => name.startsWith(world.prefix));
    for (const name of subjects) {
      const subject = `${registryUrl(world.platform)}/subjects/${encodeURIComponent(name)}`;
      // Soft delete first: the Confluent API deletes permanently only what is soft-deleted already.
      for (const url of [subject, `${subject}?permanent=true`]) {
        const response = await fetch(url, { method: 'DELETE' });
        if (!response.ok && response.status !== 404) throw new Error(`DELETE ${url}: ${response.status}`);
      }
    }
  });
  await attempt('Redis keys', async () => {
    const redis = new Redis(world.platform.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      await deleteKeysWithPrefix(redis, `${id}:`);
    } finally {
      redis.disconnect();
    }
  });
  await attempt('device database', async () => {
    const db =
      world.db ?? (await mysql.createConnection({ ...parseMysqlUrl(world.mysqlUrl), database: undefined }));
    try {
      await db.query(`DROP DATABASE IF EXISTS \`${id}\``);
    } finally {
      await db.end();
    }
  });
  await admin.disconnect().catch(() => undefined);
  if (failures.length > 0) throw new Error(`left behind: ${failures.join('; ')}`);
}
