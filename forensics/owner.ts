import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/**
 * chDB locks its data directory, so a process that wants the embedded store must first know whether
 * the forensics sink owns it. The sink writes `<data dir>.owner.json` (its pid and the URL of its
 * query endpoint) once it has opened the directory and removes it when it stops; a file whose pid is
 * gone is stale (the sink was killed) and ignored.
 */
export interface StoreOwner {
  readonly pid: number;
  readonly url: string;
}

export function ownerFileOf(embeddedPath: string): string {
  return `${embeddedPath.replace(/\/+$/, '')}.owner.json`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running owner of the embedded store, if any. */
export function storeOwner(embeddedPath: string): StoreOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(ownerFileOf(embeddedPath), 'utf8')) as Partial<StoreOwner>;
    if (typeof owner.pid !== 'number' || typeof owner.url !== 'string') return undefined;
    return alive(owner.pid) ? { pid: owner.pid, url: owner.url } : undefined;
  } catch {
    return undefined;
  }
}

export function claimStore(embeddedPath: string, url: string): void {
  writeFileSync(ownerFileOf(embeddedPath), JSON.stringify({ pid: process.pid, url }));
}

export function releaseStore(embeddedPath: string): void {
  const owner = storeOwner(embeddedPath);
  if (owner === undefined || owner.pid === process.pid) rmSync(ownerFileOf(embeddedPath), { force: true });
}

/** Asks the owner to apply the DDL (POST) or list the tables (GET); returns the table names. */
export async function askOwner(owner: StoreOwner, action: 'ddl' | 'tables'): Promise<string[]> {
  const response = await fetch(`${owner.url}/sentinel/${action}`, {
    method: action === 'ddl' ? 'POST' : 'GET',
    signal: AbortSignal.timeout(30_000),
  });
  if (!response.ok)
    throw new Error(`forensics sink answered HTTP ${response.status}: ${await response.text()}`);
  const body = (await response.json()) as { tables?: unknown };
  return Array.isArray(body.tables) ? body.tables.map(String) : [];
}
