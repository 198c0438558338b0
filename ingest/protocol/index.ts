export { type DecodeResult, decodeFrame } from './decode.js';
export { checkFixedHeaderByte, PacketType, packetTypeName } from './fixed-header.js';
export { type Frame, FrameReader, type FrameReaderOptions, type FrameReadResult } from './frame.js';
export { type InboundPacket, InboundPacketReader, type InboundReadResult } from './inbound.js';
export { checkLayout } from './layout.js';
export { defaultProtocolPolicy, type ProtocolPolicy, protocolMaxPacketBytes } from './policy.js';
export {
  type ConnackReturnCode,
  type Refusal,
  type RefusalCode,
  refusalCatalog,
  refuse,
} from './refusals.js';
export {
  type CloseReason,
  ConnectionSession,
  type ProtocolEvent,
  type ProtocolEventCode,
  type SessionAction,
  type SessionPhase,
  type SessionPolicy,
} from './session-state.js';
export { checkTopicFilter, checkTopicName, type TopicLimits } from './topic.js';
export { findUtf8Fault, type Utf8Fault } from './utf8.js';
export {
  effectiveKeepAliveSeconds,
  type PacketPolicy,
  validateClientId,
  validatePacket,
} from './validate.js';
