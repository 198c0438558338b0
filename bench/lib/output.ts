import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Every scenario prints its table for a reader and, when the suite passes `--json <file>`, writes
 * its figures there for the suite to collect. The same JSON is what `npm run bench` keeps.
 */
export function writeJsonResult(path: string | undefined, result: unknown): void {
  if (!path) return;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
}

/** A plain-text table with right-aligned numbers, for terminals and the closing notes. */
export function formatTable(
  header: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number>>,
): string {
  const cells = [
    header,
    ...rows.map((row) => row.map((cell) => (typeof cell === 'number' ? formatNumber(cell) : cell))),
  ];
  const widths = header.map((_, c) => Math.max(...cells.map((row) => String(row[c] ?? '').length)));
  return cells
    .map((row, r) =>
      row
        .map((cell, c) => {
          const text = String(cell ?? '');
          return r > 0 && typeof rows[r - 1]?.[c] === 'number'
            ? text.padStart(widths[c]!)
            : text.padEnd(widths[c]!);
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '—';
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(value >= 10 ? 1 : 2);
}
