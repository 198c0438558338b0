import { isUtf8 } from 'node:buffer';
import type { Finding } from '../schemas/types.generated.js';
import type { Highlight, PayloadView } from './model.js';

/** The hex dump shows at most this much; the whole payload is always in `base64`. */
export const HEX_DUMP_MAX_BYTES = 64 * 1024;

/** The payload of a held message as an operator reads it: text, JSON, hex, where the findings matched. */
export function payloadView(payload: Buffer, findings: readonly Finding[]): PayloadView {
  const text = isUtf8(payload) ? payload.toString('utf8') : null;
  return {
    size: payload.length,
    base64: payload.toString('base64'),
    text,
    json: text === null ? null : prettyJson(text),
    hex: hexDump(payload, HEX_DUMP_MAX_BYTES),
    highlights: text === null ? [] : locateEvidence(text, findings),
  };
}

function prettyJson(text: string): string | null {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return null;
  try {
    return JSON.stringify(JSON.parse(trimmed), null, 2);
  } catch {
    return null;
  }
}

/** `00000000  7b 22 74 22 ...  |{"t"...|`, 16 bytes a line, up to `maxBytes`. */
export function hexDump(payload: Buffer, maxBytes: number): string {
  const lines: string[] = [];
  const end = Math.min(payload.length, maxBytes);
  for (let at = 0; at < end; at += 16) {
    const row = payload.subarray(at, Math.min(at + 16, end));
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0'));
    const left = hex.slice(0, 8).join(' ');
    const right = hex.slice(8).join(' ');
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${at.toString(16).padStart(8, '0')}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${ascii}|`);
  }
  if (payload.length > end)
    lines.push(`... ${payload.length - end} more bytes (download the payload for all of it)`);
  return lines.join('\n');
}

/**
 * Where each finding's evidence sits in the payload text. Evidence is what a rule matched, often in
 * decoded form (a URL-decoded value, a JSON string's content) and bounded, so it is looked up as
 * written, then without case; evidence not found in the raw text is not highlighted (the findings
 * table still shows it). Every occurrence is marked, up to a bound.
 */
export function locateEvidence(text: string, findings: readonly Finding[]): Highlight[] {
  const lower = text.toLowerCase();
  const spans: Highlight[] = [];
  for (const finding of findings) {
    const evidence = finding.evidence.trim();
    if (evidence.length < 2) continue;
    let haystack = text;
    let needle = evidence;
    if (!text.includes(evidence)) {
      haystack = lower;
      needle = evidence.toLowerCase();
    }
    for (let from = 0, found = 0; found < MAX_MARKS_PER_FINDING; found++) {
      const at = haystack.indexOf(needle, from);
      if (at < 0) break;
      spans.push({ start: at, end: at + needle.length, ruleId: finding.ruleId });
      from = at + needle.length;
    }
  }
  return spans.sort((a, b) => a.start - b.start || b.end - a.end);
}

const MAX_MARKS_PER_FINDING = 20;
