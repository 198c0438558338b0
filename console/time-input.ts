import { parseInstant } from '../forensics/queries.js';
import { SentinelError } from '../lib/errors.js';

/**
 * A time bound of a console filter: what `sentinel forensics --since` reads (a duration ago, an ISO
 * 8601 time, UTC unless it names a zone, which is also what a browser's `datetime-local` sends),
 * plus epoch milliseconds for scripts. Empty means no bound; an unreadable value names the field.
 */
export function parseTimeInput(field: string, raw: string | undefined, now: number): number | undefined {
  const text = (raw ?? '').trim();
  if (text === '') return undefined;
  if (/^\d{12,}$/.test(text)) return Number(text);
  try {
    return parseInstant(text, now, `${field}:`);
  } catch (err) {
    if (err instanceof SentinelError) throw new TimeInputError(err.message);
    throw err;
  }
}

export class TimeInputError extends Error {}
