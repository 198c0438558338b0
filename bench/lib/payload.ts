/**
 * The benchmark message: valid JSON telemetry (the processors' policy expects JSON on device
 * topics) whose head has fixed offsets, so a subscriber reads the run, the sequence number and the
 * scheduled send time without parsing 4 KB of JSON per message:
 *   {"r":"RRRRRRRR","s":      SEQ,"t":    SCHEDULED_US,"p":"0123456789abcdef..."}
 * Numbers are right-aligned with spaces, which JSON allows between tokens. The padding is hex
 * text: about 4 bits/byte, well under the entropy detector's threshold, and no pattern matches it.
 */
export const RUN_ID_LENGTH = 8;
const SEQ_WIDTH = 10;
const TIME_WIDTH = 16;
const RUN_AT = 6;
const SEQ_AT = RUN_AT + RUN_ID_LENGTH + 6;
const TIME_AT = SEQ_AT + SEQ_WIDTH + 5;
const PAD_AT = TIME_AT + TIME_WIDTH + 7;
export const MIN_PAYLOAD_BYTES = PAD_AT + 2;

const padding = '0123456789abcdef'.repeat(1024 * 4);

export function benchPayload(run: string, seq: number, scheduledUs: number, bytes: number): Buffer {
  if (run.length !== RUN_ID_LENGTH) throw new Error(`run id must be ${RUN_ID_LENGTH} characters: ${run}`);
  const size = Math.max(bytes, MIN_PAYLOAD_BYTES);
  const head = `{"r":"${run}","s":${String(seq).padStart(SEQ_WIDTH)},"t":${String(Math.round(scheduledUs)).padStart(TIME_WIDTH)},"p":"`;
  return Buffer.from(`${head}${padding.slice(0, size - head.length - 2)}"}`, 'latin1');
}

export interface PayloadHead {
  readonly run: string;
  readonly seq: number;
  readonly scheduledUs: number;
}

/** Null when the payload is not a benchmark message (another run's traffic, say). */
export function readPayloadHead(payload: Buffer): PayloadHead | null {
  if (payload.length < MIN_PAYLOAD_BYTES || payload[0] !== 0x7b) return null;
  const seq = Number(payload.toString('latin1', SEQ_AT, SEQ_AT + SEQ_WIDTH));
  const scheduledUs = Number(payload.toString('latin1', TIME_AT, TIME_AT + TIME_WIDTH));
  if (!Number.isFinite(seq) || !Number.isFinite(scheduledUs)) return null;
  return { run: payload.toString('latin1', RUN_AT, RUN_AT + RUN_ID_LENGTH), seq, scheduledUs };
}
