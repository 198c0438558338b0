import { randomUUID } from 'node:crypto';
import type { RecordToSend } from '../lib/kafka/rdkafka.js';
import { downlinkTargetOf } from '../lib/mqtt/downlink-target.js';
import type { SchemaCatalog } from '../schemas/catalog.js';
import type { DownlinkMessage } from '../schemas/types.generated.js';
import type { InboundMessage } from './origin-link.js';

export function toDownlinkMessage(message: InboundMessage, bridgeId: string): DownlinkMessage {
  return {
    messageId: randomUUID(),
    topic: message.topic,
    payload: message.payload,
    qos: message.qos,
    retain: message.retain,
    targetClientId: downlinkTargetOf(message.topic),
    originReceivedAt: message.receivedAt,
    bridgeId,
  };
}

export function downlinkRecord(catalog: SchemaCatalog, topic: string, record: DownlinkMessage): RecordToSend {
  return { topic, key: record.targetClientId ?? record.topic, value: catalog.encode('downlink', record) };
}
