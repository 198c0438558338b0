import type {
  IConnectPacket,
  IPublishPacket,
  ISubscribePacket,
  IUnsubscribePacket,
  Packet,
} from 'mqtt-packet';
import type { ProtocolPolicy } from './policy.js';
import { type Refusal, refuse } from './refusals.js';
import { checkTopicFilter, checkTopicName } from './topic.js';

/**
 * Rules on the decoded packet that the bytes alone do not settle: ClientId, Keep Alive, topics,
 * packet identifiers, non-empty SUBSCRIBE/UNSUBSCRIBE. Byte-level rules (flags, lengths, UTF-8,
 * connect flags) have run before, in frame.ts and layout.ts.
 */
export type PacketPolicy = Pick<
  ProtocolPolicy,
  | 'maxTopicBytes'
  | 'maxTopicLevels'
  | 'maxClientIdBytes'
  | 'clientIdCharacters'
  | 'allowEmptyClientId'
  | 'maxKeepAliveSeconds'
  | 'keepAliveOutOfPolicy'
>;

export function validatePacket(packet: Packet, policy: PacketPolicy): Refusal | undefined {
  switch (packet.cmd) {
    case 'connect':
      return validateConnect(packet, policy);
    case 'publish':
      return validatePublish(packet, policy);
    case 'subscribe':
      return validateSubscribe(packet, policy);
    case 'unsubscribe':
      return validateUnsubscribe(packet, policy);
    default:
      return undefined;
  }
}

function isSpecClientIdCharacter(unit: number): boolean {
  // MQTT-3.1.3-5: 0-9, a-z, A-Z
  return (unit >= 0x30 && unit <= 0x39) || (unit >= 0x41 && unit <= 0x5a) || (unit >= 0x61 && unit <= 0x7a);
}

function isSafeClientIdCharacter(unit: number): boolean {
  // Printable ASCII without space and the characters that mean something in topics and ACL
  // templates: '+', '#', '/', '%'.
  return unit > 0x20 && unit < 0x7f && unit !== 0x2b && unit !== 0x23 && unit !== 0x2f && unit !== 0x25;
}

function isPrintableCharacter(unit: number): boolean {
  // Any UTF-8 but the C0 and C1 controls and DEL (MQTT-1.5.3-2 forbids U+0000; the others would
  // reach logs, tables and terminals as control codes).
  return unit >= 0x20 && unit !== 0x7f && !(unit >= 0x80 && unit <= 0x9f);
}

export function validateClientId(
  clientId: string,
  clean: boolean,
  policy: PacketPolicy,
): Refusal | undefined {
  if (clientId.length === 0) {
    // MQTT-3.1.3-8: a zero-byte ClientId needs CleanSession 1 (CONNACK 0x02 otherwise).
    if (!clean) return refuse('SNT_MQTT_CLIENT_ID_EMPTY_PERSISTENT', 'empty client id with CleanSession 0');
    // MQTT-3.1.3-6 makes accepting it optional; MQTT-3.1.3-9 says how to refuse.
    if (!policy.allowEmptyClientId)
      return refuse('SNT_MQTT_CLIENT_ID_REJECTED', 'empty client id not accepted');
    return undefined;
  }
  const bytes = Buffer.byteLength(clientId, 'utf8');
  if (bytes > policy.maxClientIdBytes) {
    return refuse(
      'SNT_MQTT_CLIENT_ID_REJECTED',
      `client id is ${bytes} bytes, the limit is ${policy.maxClientIdBytes}`,
    );
  }
  {
    const accepts =
      policy.clientIdCharacters === 'spec'
        ? isSpecClientIdCharacter
        : policy.clientIdCharacters === 'safe'
          ? isSafeClientIdCharacter
          : isPrintableCharacter;
    for (let i = 0; i < clientId.length; i++) {
      if (!accepts(clientId.charCodeAt(i))) {
        return refuse(
          'SNT_MQTT_CLIENT_ID_REJECTED',
          `client id has a character outside the '${policy.clientIdCharacters}' set at position ${i}`,
        );
      }
    }
  }
  return undefined;
}

/**
 * The Keep Alive the server enforces (seconds, 0 = none): the client's, or the cap when the client
 * asks for none or for more (SlowITe keeps idle connections open with Keep Alive 65,535).
 */
export function effectiveKeepAliveSeconds(
  requested: number,
  policy: Pick<ProtocolPolicy, 'maxKeepAliveSeconds'>,
): number {
  const cap = policy.maxKeepAliveSeconds;
  if (cap === 0) return requested;
  return requested === 0 || requested > cap ? cap : requested;
}

function validateConnect(connect: IConnectPacket, policy: PacketPolicy): Refusal | undefined {
  const clientIdRefusal = validateClientId(connect.clientId, connect.clean ?? true, policy);
  if (clientIdRefusal !== undefined) return clientIdRefusal;
  const keepAlive = connect.keepalive ?? 0;
  if (
    policy.keepAliveOutOfPolicy === 'refuse' &&
    policy.maxKeepAliveSeconds > 0 &&
    (keepAlive === 0 || keepAlive > policy.maxKeepAliveSeconds)
  ) {
    return refuse(
      'SNT_MQTT_KEEPALIVE_OUT_OF_POLICY',
      `Keep Alive ${keepAlive} s, accepted 1..${policy.maxKeepAliveSeconds} s`,
    );
  }
  if (connect.will !== undefined) {
    // The Will Topic is published as a topic name, so the topic-name rules apply (MQTT-3.3.2-2).
    return checkTopicName(connect.will.topic, policy, 'will topic');
  }
  return undefined;
}

function validatePublish(publish: IPublishPacket, policy: PacketPolicy): Refusal | undefined {
  const topicRefusal = checkTopicName(publish.topic, policy);
  if (topicRefusal !== undefined) return topicRefusal;
  // MQTT-2.3.1-1: QoS 1 and 2 PUBLISH carry a non-zero packet identifier.
  if (publish.qos > 0 && publish.messageId === 0) {
    return refuse('SNT_MQTT_PACKET_ID_ZERO', `QoS ${publish.qos} PUBLISH with packet identifier 0`);
  }
  return undefined;
}

function validateSubscribe(subscribe: ISubscribePacket, policy: PacketPolicy): Refusal | undefined {
  // MQTT-2.3.1-1
  if (subscribe.messageId === 0)
    return refuse('SNT_MQTT_PACKET_ID_ZERO', 'SUBSCRIBE with packet identifier 0');
  // MQTT-3.8.3-3: at least one filter.
  if (subscribe.subscriptions.length === 0)
    return refuse('SNT_MQTT_SUBSCRIBE_EMPTY', 'SUBSCRIBE without filters');
  for (const subscription of subscribe.subscriptions) {
    const refusal = checkTopicFilter(subscription.topic, policy);
    if (refusal !== undefined) return refusal;
  }
  return undefined;
}

function validateUnsubscribe(unsubscribe: IUnsubscribePacket, policy: PacketPolicy): Refusal | undefined {
  // MQTT-2.3.1-1
  if (unsubscribe.messageId === 0) {
    return refuse('SNT_MQTT_PACKET_ID_ZERO', 'UNSUBSCRIBE with packet identifier 0');
  }
  // MQTT-3.10.3-2: at least one filter.
  if (unsubscribe.unsubscriptions.length === 0) {
    return refuse('SNT_MQTT_UNSUBSCRIBE_EMPTY', 'UNSUBSCRIBE without filters');
  }
  for (const filter of unsubscribe.unsubscriptions) {
    const refusal = checkTopicFilter(filter, policy);
    if (refusal !== undefined) return refusal;
  }
  return undefined;
}
