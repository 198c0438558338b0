import type { Highlight } from '../model.js';
import { html, type SafeHtml } from './html.js';

/** A stretch of the text to mark, and every rule whose evidence covers some of it. */
export interface MarkedSpan {
  readonly start: number;
  readonly end: number;
  readonly ruleIds: readonly string[];
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/**
 * The highlights as ordered, disjoint spans within the text: overlapping ones merge (keeping every
 * rule), out-of-range ends are clipped, and a span never starts or ends inside a surrogate pair (it
 * widens to take the whole character), so no mark cuts an emoji in two.
 */
export function markedSpans(text: string, highlights: readonly Highlight[]): MarkedSpan[] {
  const spans = highlights
    .filter((h) => Number.isFinite(h.start) && Number.isFinite(h.end))
    .map((h) => ({ start: wholeStart(text, h.start), end: wholeEnd(text, h.end), ruleIds: [h.ruleId] }))
    .filter((span) => span.end > span.start)
    .sort((a, b) => a.start - b.start || a.end - b.end);
  const merged: { start: number; end: number; ruleIds: string[] }[] = [];
  for (const span of spans) {
    const last = merged.at(-1);
    if (last !== undefined && span.start < last.end) {
      last.end = Math.max(last.end, span.end);
      for (const ruleId of span.ruleIds) if (!last.ruleIds.includes(ruleId)) last.ruleIds.push(ruleId);
    } else {
      merged.push(span);
    }
  }
  return merged;
}

function clip(text: string, index: number): number {
  return Math.min(text.length, Math.max(0, Math.trunc(index)));
}

function wholeStart(text: string, index: number): number {
  const at = clip(text, index);
  return at > 0 && isLowSurrogate(text.charCodeAt(at)) && isHighSurrogate(text.charCodeAt(at - 1))
    ? at - 1
    : at;
}

function wholeEnd(text: string, index: number): number {
  const at = clip(text, index);
  return at > 0 && isHighSurrogate(text.charCodeAt(at - 1)) && isLowSurrogate(text.charCodeAt(at))
    ? at + 1
    : at;
}

/** The text, escaped, with `<mark data-rule="...">` around where findings matched. */
export function highlightedText(text: string, highlights: readonly Highlight[]): SafeHtml {
  const parts: SafeHtml[] = [];
  let at = 0;
  for (const span of markedSpans(text, highlights)) {
    const rules = span.ruleIds.join(' ');
    parts.push(
      html`${text.slice(at, span.start)}<mark data-rule="${rules}" title="${`Matched by ${span.ruleIds.join(', ')}`}">${text.slice(span.start, span.end)}</mark>`,
    );
    at = span.end;
  }
  parts.push(html`${text.slice(at)}`);
  return html`${parts}`;
}
