import { parse as parseCsv } from 'csv-parse/sync';
import { SentinelError } from '../../lib/errors.js';
import { checkDeviceFields, checkPassword, type ImportedDevice } from './device-store.js';
import { parsePasswordHash } from './password.js';

/**
 * `sentinel devices import FILE`: devices in bulk, from JSONL or CSV. One device per line (JSONL) or
 * row (CSV, with a header):
 *
 *   client_id (or id), username, password | password_hash, publish, subscribe
 *
 * `password_hash` is `scrypt$N$r$p$salt$key` as `sentinel devices` stores it (moving devices from
 * another installation without their secrets); `password` is hashed on import (scrypt, the KDF's
 * cost per device). ACL patterns: arrays in JSONL, `;`-separated in a CSV cell.
 */
export interface ImportLine {
  /** 1-based line of the file (for CSV, the row's first line). */
  readonly line: number;
  readonly device: ImportedDevice;
}

export interface RefusedLine {
  readonly line: number;
  readonly clientId: string | null;
  readonly reason: string;
}

export interface ParsedImport {
  readonly devices: ImportLine[];
  readonly refused: RefusedLine[];
}

const KNOWN_FIELDS = new Set([
  'client_id',
  'id',
  'username',
  'password',
  'password_hash',
  'publish',
  'subscribe',
]);

function patterns(value: unknown, field: string): string[] {
  if (value === undefined || value === null || value === '') return [];
  if (Array.isArray(value) && value.every((p) => typeof p === 'string')) return value as string[];
  if (typeof value === 'string')
    return value
      .split(';')
      .map((p) => p.trim())
      .filter((p) => p !== '');
  throw new Error(`"${field}" must be a list of topic filters`);
}

/** One record (a JSONL object or a CSV row) as a device, or why it is refused. */
function deviceOf(record: Record<string, unknown>): ImportedDevice {
  const unknown = Object.keys(record).filter((key) => !KNOWN_FIELDS.has(key));
  if (unknown.length > 0) throw new Error(`unknown field ${unknown.map((k) => `"${k}"`).join(', ')}`);
  const text = (key: string): string | undefined => {
    const value = record[key];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw new Error(`"${key}" must be a string`);
    return value;
  };
  const clientId = text('client_id') ?? text('id');
  if (clientId === undefined) throw new Error('no client_id');
  const username = text('username');
  if (username === undefined) throw new Error('no username');
  const password = text('password');
  const passwordHash = text('password_hash');
  if ((password === undefined) === (passwordHash === undefined))
    throw new Error('give exactly one of password and password_hash');
  const device: ImportedDevice = {
    clientId,
    username,
    ...(password === undefined ? {} : { password }),
    ...(passwordHash === undefined ? {} : { passwordHash }),
    publish: patterns(record.publish, 'publish'),
    subscribe: patterns(record.subscribe, 'subscribe'),
  };
  // The same checks as `devices add`; a stored hash is checked for its form instead.
  checkDeviceFields(device);
  if (password !== undefined) checkPassword(password);
  else parsePasswordHash(passwordHash!);
  return device;
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Reads an import file; `format` from the file name when not given (`.csv`, else JSONL). */
export function parseImport(text: string, format: 'csv' | 'jsonl'): ParsedImport {
  const devices: ImportLine[] = [];
  const refused: RefusedLine[] = [];
  const seen = new Map<string, number>();
  const accept = (line: number, record: Record<string, unknown>) => {
    try {
      const device = deviceOf(record);
      const first = seen.get(device.clientId);
      if (first !== undefined) throw new Error(`client id "${device.clientId}" already on line ${first}`);
      seen.set(device.clientId, line);
      devices.push({ line, device });
    } catch (err) {
      const id = record.client_id ?? record.id;
      refused.push({ line, clientId: typeof id === 'string' ? id : null, reason: reasonOf(err) });
    }
  };
  if (format === 'csv') {
    let rows: Array<{ record: Record<string, string>; info: { lines: number } }>;
    try {
      rows = parseCsv(text, {
        columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()),
        skip_empty_lines: true,
        trim: true,
        info: true,
      }) as typeof rows;
    } catch (cause) {
      throw new SentinelError('SNT_INPUT_INVALID', `CSV: ${reasonOf(cause)}`, { cause });
    }
    for (const { record, info } of rows) accept(info.lines, record);
  } else {
    for (const [index, raw] of text.split('\n').entries()) {
      if (raw.trim() === '') continue;
      let record: unknown;
      try {
        record = JSON.parse(raw);
      } catch {
        refused.push({ line: index + 1, clientId: null, reason: 'not JSON' });
        continue;
      }
      if (typeof record !== 'object' || record === null || Array.isArray(record)) {
        refused.push({ line: index + 1, clientId: null, reason: 'not a JSON object' });
        continue;
      }
      accept(index + 1, record as Record<string, unknown>);
    }
  }
  return { devices, refused };
}
