/** How the console writes times and sizes: always UTC, to the millisecond, so rows compare at a glance. */

/** `2026-12-06 10:31:05.123Z`; a dash for a time that is not one. */
export function formatTime(epochMs: number): string {
  const iso = isoTime(epochMs);
  return iso === '' ? '—' : iso.replace('T', ' ');
}

/** For a `<time datetime>` attribute; empty for a time that is not one. */
export function isoTime(epochMs: number): string {
  if (!Number.isFinite(epochMs)) return '';
  const date = new Date(epochMs);
  return Number.isNaN(date.getTime()) ? '' : date.toISOString();
}

const sizeUnits = ['KiB', 'MiB', 'GiB'] as const;

/** `512 B`, `1.5 KiB`, `2.0 MiB`. */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let value = bytes;
  let unit: string = 'B';
  for (const next of sizeUnits) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return `${value.toFixed(1)} ${unit}`;
}

/**
 * The value of an `<input type="datetime-local">` for a UTC time (the console's inputs are UTC, as
 * its tables are): `2026-12-06T10:31:05`. Empty when there is no time.
 */
export function datetimeLocalValue(epochMs: number | undefined): string {
  if (epochMs === undefined) return '';
  return isoTime(epochMs).slice(0, 19);
}
