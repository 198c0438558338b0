import { randomUUID } from 'node:crypto';
import type { RecordToSend } from '../lib/kafka/rdkafka.js';
import type { SchemaCatalog } from '../schemas/catalog.js';
import type { DownlinkMessage } from '../schemas/types.generated.js';
import type { InboundMessage } from './origin-link.js';

/**
 * origin -> sentinel.downlink. A topic of the form `clients/{client_id}/...` names one device: the
 * record is keyed by that client id (all of a device's downlink in one partition, in order) and
 * carries it as targetClientId, so the edge delivers it to that device's session only. Any other
 * topic is keyed by the topic itself and goes to every subscriber whose filter matches.
 */
export function downlinkTargetOf(topic: string): string | null {
  const levels = topic.split('/');
  if (levels.length >= 3 && levels[0] === 'clients' && levels[1] !== undefined && levels[1] !== '') {
    return levels[1];
  }
  return null;
}

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
