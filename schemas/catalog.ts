import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { SentinelError } from '../lib/errors.js';
import type { TopicNames, TopicRole } from '../lib/kafka/topics.js';
import type {
  ApprovedMessage,
  Delivery,
  DownlinkMessage,
  HeldMessage,
  PacketEvent,
  QuarantineDecision,
  Verdict,
} from './types.generated.js';

/**
 * The Avro contracts on the bus. Values use the Confluent wire format (magic byte 0, 4-byte
 * big-endian schema id, Avro binary) and are registered under the topic-name strategy
 * (subject `<topic>-value`). Keys are the client id (or topic) as plain UTF-8.
 *
 * Encoding is synchronous with the id learned at start-up (no registry call per message). Decoding
 * looks the writer's schema up by id once and reads it into the current schema (Avro schema
 * resolution), so a consumer reads records written with any compatible earlier version.
 */
export const schemaDir = join(fileURLToPath(import.meta.url), '..', '..', '..', 'schemas');

export const schemaFileOf: Readonly<Record<TopicRole, string>> = {
  packets: 'packet-event.avsc',
  verdicts: 'verdict.avsc',
  approved: 'approved-message.avsc',
  downlink: 'downlink-message.avsc',
  deliveries: 'delivery.avsc',
  quarantine: 'held-message.avsc',
  decisions: 'quarantine-decision.avsc',
};

export interface TopicValues {
  packets: PacketEvent;
  verdicts: Verdict;
  approved: ApprovedMessage;
  downlink: DownlinkMessage;
  deliveries: Delivery;
  quarantine: HeldMessage;
  decisions: QuarantineDecision;
}

export function readSchema(role: TopicRole): avro.Schema {
  return JSON.parse(readFileSync(join(schemaDir, schemaFileOf[role]), 'utf8')) as avro.Schema;
}

export const avroTypeOf: Readonly<Record<TopicRole, avro.Type>> = {
  packets: avro.Type.forSchema(readSchema('packets')),
  verdicts: avro.Type.forSchema(readSchema('verdicts')),
  approved: avro.Type.forSchema(readSchema('approved')),
  downlink: avro.Type.forSchema(readSchema('downlink')),
  deliveries: avro.Type.forSchema(readSchema('deliveries')),
  quarantine: avro.Type.forSchema(readSchema('quarantine')),
  decisions: avro.Type.forSchema(readSchema('decisions')),
};

const magicByte = 0;
const headerSize = 5;

export function subjectOf(topic: string): string {
  return `${topic}-value`;
}

export function frame(schemaId: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(headerSize + body.length);
  out.writeUInt8(magicByte, 0);
  out.writeInt32BE(schemaId, 1);
  body.copy(out, headerSize);
  return out;
}

export function schemaIdOf(buffer: Buffer): number {
  if (buffer.length < headerSize || buffer.readUInt8(0) !== magicByte) {
    throw new SentinelError(
      'SNT_SCHEMA_UNKNOWN',
      'value is not in the Confluent wire format (magic byte 0 + schema id)',
    );
  }
  return buffer.readInt32BE(1);
}

export class SchemaCatalog {
  private readonly resolvers = new Map<string, avro.Resolver>();

  private constructor(
    private readonly registry: SchemaRegistry,
    readonly topics: TopicNames,
    private readonly ids: Readonly<Record<TopicRole, number>>,
  ) {}

  /** Registers the current schemas (idempotent; the registry refuses an incompatible change). */
  static async connect(registryUrl: string, topics: TopicNames): Promise<SchemaCatalog> {
    const registry = new SchemaRegistry({ host: registryUrl, clientId: 'mqtt-sentinel' });
    const ids = {} as Record<TopicRole, number>;
    for (const role of Object.keys(schemaFileOf) as TopicRole[]) {
      ids[role] = await registerSchema(registry, subjectOf(topics[role]), readSchema(role));
    }
    return new SchemaCatalog(registry, topics, ids);
  }

  schemaId(role: TopicRole): number {
    return this.ids[role];
  }

  encode<R extends TopicRole>(role: R, value: TopicValues[R]): Buffer {
    return frame(this.ids[role], avroTypeOf[role].toBuffer(value));
  }

  /** Decodes without waiting when the record was written with this catalog's schema; undefined otherwise. */
  decodeCurrent<R extends TopicRole>(role: R, buffer: Buffer): TopicValues[R] | undefined {
    if (schemaIdOf(buffer) !== this.ids[role]) return undefined;
    return avroTypeOf[role].fromBuffer(buffer.subarray(headerSize)) as TopicValues[R];
  }

  async decode<R extends TopicRole>(role: R, buffer: Buffer): Promise<TopicValues[R]> {
    const current = this.decodeCurrent(role, buffer);
    if (current !== undefined) return current;
    const id = schemaIdOf(buffer);
    const reader = avroTypeOf[role];
    const body = buffer.subarray(headerSize);
    const key = `${role}:${id}`;
    let resolver = this.resolvers.get(key);
    if (!resolver) {
      const writer = (await this.registry.getSchema(id)) as unknown as avro.Type;
      resolver = reader.createResolver(writer);
      this.resolvers.set(key, resolver);
    }
    return reader.fromBuffer(body, resolver) as TopicValues[R];
  }
}

/** Registers one Avro schema under a subject and returns its id. */
export async function registerSchema(
  registry: SchemaRegistry,
  subject: string,
  schema: avro.Schema,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { id } = await registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
        { subject },
      );
      return id;
    } catch (err) {
      const message = (err as Error).message;
      // Services starting together race to create a new subject; Apicurio then answers a loser
      // "A rule named 'COMPATIBILITY' already exists", or the client reads the subject's
      // compatibility before the winner's rule is in place ("BACKWARD != NONE"). Registering the
      // same schema is idempotent, so the loser asks again and gets the winner's id.
      if (/already exists|compatibility does not match/i.test(message) && attempt < 6) {
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
        continue;
      }
      const code = /incompatible|409/i.test(message) ? 'SNT_SCHEMA_INCOMPATIBLE' : 'SNT_SCHEMA_UNKNOWN';
      throw new SentinelError(code, `registering ${subject}: ${message}`, { cause: err });
    }
  }
}

/**
 * Schema evolution rule: BACKWARD, the registry's check that a consumer on the new schema can read
 * everything written with the previous one (fields are added with defaults, removed only if they had one).
 */
export async function requireBackwardCompatibility(registryUrl: string): Promise<void> {
  const response = await fetch(`${registryUrl}/config`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ compatibility: 'BACKWARD' }),
  });
  if (!response.ok) {
    throw new SentinelError(
      'SNT_SCHEMA_UNKNOWN',
      `registry refused the compatibility setting: HTTP ${response.status} ${await response.text()}`,
    );
  }
}
