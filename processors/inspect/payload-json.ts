import { isUtf8 } from 'node:buffer';
import type { Policy } from '../policy/policy.js';
import { type JsonScan, type JsonScanLimits, scanJson } from './json-scan.js';

/**
 * A payload read once per message, whichever steps ask: whether it is UTF-8, its text
 * and its JSON scan (validity plus keys and strings). The validate and patterns steps both need
 * them; reading a 256 KiB JSON twice was a third of its inspection cost.
 */
interface Reading {
  readonly utf8: boolean;
  /** Decoded on first use, when whole: a JSON payload is scanned as bytes and never needs it. */
  text?: string;
  json?: { readonly limits: JsonScanLimits; readonly scan: JsonScan | null };
}

const readings = new WeakMap<Buffer, Reading>();

function readingOf(payload: Buffer): Reading {
  let reading = readings.get(payload);
  if (!reading) {
    reading = { utf8: isUtf8(payload) };
    readings.set(payload, reading);
  }
  return reading;
}

export function payloadIsUtf8(payload: Buffer): boolean {
  return readingOf(payload).utf8;
}

/** A leading UTF-8 byte order mark is not content (TextDecoder drops it too). */
export function withoutBom(payload: Buffer): Buffer {
  return payload[0] === 0xef && payload[1] === 0xbb && payload[2] === 0xbf ? payload.subarray(3) : payload;
}

/**
 * The payload's text up to a little more than `maxChars` characters, for a reader that reads no
 * further (the patterns step's message budget): decoding a 256 KiB payload whole costs about 1 ms
 * here. The text is longer than `maxChars` whenever the payload is, so the reader can tell it was
 * cut. Null when the payload is not UTF-8.
 */
export function payloadTextUpTo(payload: Buffer, maxChars: number): string | null {
  const reading = readingOf(payload);
  if (!reading.utf8) return null;
  if (reading.text !== undefined) return reading.text;
  const content = withoutBom(payload);
  if (content.length <= maxChars + 1) {
    reading.text = content.toString('utf8');
    return reading.text;
  }
  // A character is 1-4 bytes: widen until enough characters are decoded or the payload ends.
  let bytes = maxChars + 1;
  let text = content.toString('utf8', 0, bytes);
  while (text.length <= maxChars && bytes < content.length) {
    bytes = Math.min(bytes * 2, content.length);
    text = content.toString('utf8', 0, bytes);
  }
  return text;
}

/**
 * The payload's JSON scan, or null when it is not UTF-8 JSON. Steps of one chain ask with the
 * policy's limits, so the payload is scanned once; other limits scan it again.
 */
export function payloadJson(payload: Buffer, limits: JsonScanLimits): JsonScan | null {
  const reading = readingOf(payload);
  const cached = reading.json;
  if (cached && cached.limits.maxDepth === limits.maxDepth && cached.limits.maxNodes === limits.maxNodes)
    return cached.scan;
  let scan: JsonScan | null = null;
  if (reading.utf8) {
    const result = scanJson(withoutBom(payload), limits);
    scan = result.valid ? result : null;
  }
  reading.json = { limits, scan };
  return scan;
}

/** The JSON limits a policy sets for inspection, the ones every step scans with. */
export function jsonScanLimits(policy: Pick<Policy, 'patterns'>): JsonScanLimits {
  return { maxDepth: policy.patterns.maxJsonDepth, maxNodes: policy.patterns.maxJsonNodes };
}
