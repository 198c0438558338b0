/**
 * A point in time as an operator types it: epoch milliseconds, a duration ago (`15m`, `24h`, `7d`),
 * an ISO 8601 time, or a browser's `datetime-local` value (no zone: read as UTC, as every time in
 * the console is shown). Empty means no bound. Throws a message naming the field when unreadable.
 */
export function parseTimeInput(field: string, raw: string | undefined, now: number): number | undefined {
  const text = (raw ?? '').trim();
  if (text === '') return undefined;
  if (/^\d{12,}$/.test(text)) return Number(text);
  const ago = /^(\d{1,6})(s|m|h|d)$/.exec(text);
  if (ago) return now - Number(ago[1]) * unitMs[ago[2] as keyof typeof unitMs];
  const zoned = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/.test(text) ? `${text}Z` : text;
  const at = Date.parse(zoned);
  if (Number.isNaN(at))
    throw new TimeInputError(
      `${field}: ${JSON.stringify(text)} is not a time (use 15m, 24h, 7d, an ISO 8601 time or epoch ms)`,
    );
  return at;
}

export class TimeInputError extends Error {}

const unitMs = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
