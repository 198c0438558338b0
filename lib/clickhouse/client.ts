import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type ClickHouseClient, createClient } from '@clickhouse/client';
import type * as ChdbConnection from 'chdb/connection';

/**
 * One code path, two engines: the official @clickhouse/client talks HTTP to a ClickHouse server, or,
 * with the embedded default, the same client drives chDB (ClickHouse in-process) through chdb's
 * Connection plug. chDB locks its data directory, so only one process (the forensics service) may
 * open it at a time.
 */
/** 64-bit integers as JSON strings (a server's default; chDB's default differs), so callers see one shape. */
const sameOutputOnBothEngines = { output_format_json_quote_64bit_integers: 1 } as const;

type ClientConnection = NonNullable<Parameters<typeof createClient>[0]>['connection'];

const requireHere = createRequire(import.meta.url);

/**
 * chDB's engine (about 140 MB of RSS once mapped) is loaded by the one process that opens the
 * embedded store; a process that talks to a server (the console, `sentinel forensics`) never maps it.
 */
function chdbConnection(): typeof ChdbConnection {
  return requireHere('chdb/connection') as typeof ChdbConnection;
}

export interface ClickHouseTarget {
  /** 'embedded' or an http(s) URL of a server. */
  readonly url: string;
  /** Data directory of the embedded engine. */
  readonly embeddedPath: string;
  readonly username?: string;
  readonly password?: string;
  /** Database unqualified names resolve in (a server's `database` parameter); default 'default'. */
  readonly database?: string;
}

export function isEmbedded(target: ClickHouseTarget): boolean {
  return target.url === 'embedded';
}

export function createClickHouse(target: ClickHouseTarget): ClickHouseClient {
  if (isEmbedded(target)) {
    mkdirSync(target.embeddedPath, { recursive: true });
    // chdb declares the Connection interface from @clickhouse/client-common while @clickhouse/client
    // 1.23 bundles its own copy of the same declarations; they are identical at run time.
    const connection = chdbConnection().createChdbConnection({
      path: target.embeddedPath,
    }) as unknown as ClientConnection;
    return createClient({ connection, clickhouse_settings: sameOutputOnBothEngines });
  }
  return createClient({
    url: target.url,
    clickhouse_settings: sameOutputOnBothEngines,
    ...(target.username ? { username: target.username } : {}),
    ...(target.password ? { password: target.password } : {}),
    ...(target.database ? { database: target.database } : {}),
  });
}
