import mysql from 'mysql2/promise';
import { parseMysqlUrl } from '../../lib/devicedb/migrations.js';
import { SentinelError } from '../../lib/errors.js';
import { defaultProtocolPolicy } from '../protocol/policy.js';
import { checkTopicFilter } from '../protocol/topic.js';
import { validateClientId } from '../protocol/validate.js';
import type { DeviceAcls } from './acl.js';
import {
  defaultScryptParams,
  hashPassword,
  needsRehash,
  type PasswordInput,
  type ScryptParams,
  verifyPassword,
} from './password.js';

/**
 * The device repository over the device DB (tables `devices`, `device_acls`, migration 1). Every
 * statement is parameterised; nothing from a caller is spliced into SQL. A DB that does not answer
 * surfaces as SNT_DEVICE_DB_UNAVAILABLE so callers can apply the fail-closed policy.
 */
export interface NewDevice {
  readonly clientId: string;
  readonly username: string;
  readonly password: PasswordInput;
  readonly publish?: readonly string[];
  readonly subscribe?: readonly string[];
}

/** What the authenticator needs: never leaves the process, never cached. */
export interface DeviceCredentials {
  readonly clientId: string;
  readonly username: string;
  readonly passwordHash: string;
  readonly enabled: boolean;
  readonly acls: DeviceAcls;
}

/** What `devices list` shows; no secret in it. */
export interface DeviceSummary {
  readonly clientId: string;
  readonly username: string;
  readonly enabled: boolean;
  readonly disabledReason: string | null;
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** The read on the CONNECT path; the authenticator depends on this, not on SQL. */
export interface DeviceDirectory {
  /** The device whose client id is exactly `clientId` (case and trailing spaces included). */
  findForAuth(clientId: string): Promise<DeviceCredentials | undefined>;
}

/**
 * The whole device directory as `sentinel devices` uses it: `DeviceStore` over MySQL here, and
 * `MemoryDeviceStore` for tests, both held to test/contract/device-directory.contract.ts.
 */
export interface DeviceRegistry extends DeviceDirectory {
  add(device: NewDevice): Promise<void>;
  list(): Promise<DeviceSummary[]>;
  disable(clientId: string, reason?: string): Promise<void>;
  enable(clientId: string): Promise<void>;
  loadAcls(clientId: string): Promise<DeviceAcls>;
}

export interface DevicePoolOptions {
  /** Connect and per-query timeout, milliseconds: a hung DB must not hold CONNECTs longer. */
  readonly timeoutMs: number;
  readonly connectionLimit?: number;
}

/** A mysql2 pool for the device DB at a `mysql://` URL (SENTINEL_MYSQL_URL). */
export function createDevicePool(url: string, options: DevicePoolOptions): mysql.Pool {
  const target = parseMysqlUrl(url);
  return mysql.createPool({
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    connectTimeout: options.timeoutMs,
    connectionLimit: options.connectionLimit ?? 8,
    // Bounded queue: under a CONNECT storm with a slow DB, excess lookups fail (deny) instead of piling up.
    queueLimit: 1000,
    waitForConnections: true,
    enableKeepAlive: true,
  });
}

export const minPasswordLength = 12;
const maxUsernameLength = 128;
export const maxReasonLength = 255;

export type AclAction = 'publish' | 'subscribe' | 'all';
type Action = AclAction;

interface DeviceRow extends mysql.RowDataPacket {
  client_id: string;
  username: string;
  password_hash: string;
  enabled: number;
  disabled_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

interface AclRow extends mysql.RowDataPacket {
  client_id: string;
  action: Action;
  topic_pattern: string;
}

function mysqlCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

function unavailable(what: string, err: unknown): SentinelError {
  const code = mysqlCode(err);
  if (code === 'ER_NO_SUCH_TABLE' || code === 'ER_BAD_DB_ERROR') {
    return new SentinelError(
      'SNT_DEVICE_DB_UNAVAILABLE',
      `device DB is not migrated (${(err as Error).message}); run \`sentinel stack up\` or apply lib/devicedb migrations`,
      { cause: err },
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new SentinelError(
    'SNT_DEVICE_DB_UNAVAILABLE',
    `device DB did not answer while ${what} (${code ?? message}); check SENTINEL_MYSQL_URL and the database`,
    { cause: err },
  );
}

export function invalid(message: string): SentinelError {
  return new SentinelError('SNT_DEVICE_INVALID', message);
}

export function collectAcls(
  rows: ReadonlyArray<{ readonly action: AclAction; readonly topic_pattern: string }>,
): { publish: string[]; subscribe: string[] } {
  const publish: string[] = [];
  const subscribe: string[] = [];
  for (const row of rows) {
    if (row.action !== 'subscribe') publish.push(row.topic_pattern);
    if (row.action !== 'publish') subscribe.push(row.topic_pattern);
  }
  return { publish, subscribe };
}

/** What `devices add` and `devices import` check of a device apart from its password. */
export function checkDeviceFields(device: {
  readonly clientId: string;
  readonly username: string;
  readonly publish?: readonly string[];
  readonly subscribe?: readonly string[];
}): void {
  const refusal = validateClientId(device.clientId, true, {
    ...defaultProtocolPolicy,
    allowEmptyClientId: false,
  });
  if (refusal) throw invalid(`client id "${device.clientId}" refused: ${refusal.message}`);
  if (device.username.length === 0 || device.username.length > maxUsernameLength) {
    throw invalid(`user name must be 1..${maxUsernameLength} characters`);
  }
  for (const pattern of [...(device.publish ?? []), ...(device.subscribe ?? [])]) {
    const problem = checkTopicFilter(pattern, defaultProtocolPolicy);
    if (problem) throw invalid(`ACL pattern "${pattern}" is not a valid topic filter: ${problem.message}`);
  }
}

export function checkPassword(password: PasswordInput): void {
  const length = typeof password === 'string' ? Buffer.byteLength(password) : password.length;
  if (length < minPasswordLength) {
    throw invalid(`password must be at least ${minPasswordLength} bytes (use a generated device secret)`);
  }
}

export function checkNewDevice(device: NewDevice): void {
  checkDeviceFields(device);
  checkPassword(device.password);
}

export function checkDisableReason(reason: string | null): void {
  if (reason !== null && reason.length > maxReasonLength)
    throw invalid(`reason over ${maxReasonLength} characters`);
}

/** A device as an import file states it (device-import.ts): a password or a stored hash, and its ACL patterns. */
export interface ImportedDevice {
  readonly clientId: string;
  readonly username: string;
  readonly password?: string;
  readonly passwordHash?: string;
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

export class DeviceStore implements DeviceRegistry {
  constructor(
    private readonly pool: mysql.Pool,
    private readonly options: { readonly hashParams?: ScryptParams; readonly queryTimeoutMs?: number } = {},
  ) {}

  private get timeout(): number {
    return this.options.queryTimeoutMs ?? 2000;
  }

  /** Adds a device and its ACL patterns in one transaction; SNT_DEVICE_EXISTS if the id is taken. */
  async add(device: NewDevice): Promise<void> {
    checkNewDevice(device);
    const hash = await hashPassword(device.password, this.options.hashParams ?? defaultScryptParams);
    await this.#inTransaction(
      'adding a device',
      async (connection) => {
        await connection.execute(
          {
            sql: 'INSERT INTO devices (client_id, username, password_hash) VALUES (?, ?, ?)',
            timeout: this.timeout,
          },
          [device.clientId, device.username, hash],
        );
        const grants: Array<[Action, string]> = [
          ...(device.publish ?? []).map((p): [Action, string] => ['publish', p]),
          ...(device.subscribe ?? []).map((p): [Action, string] => ['subscribe', p]),
        ];
        for (const [action, pattern] of grants) {
          await connection.execute(
            {
              sql: 'INSERT INTO device_acls (client_id, action, topic_pattern) VALUES (?, ?, ?)',
              timeout: this.timeout,
            },
            [device.clientId, action, pattern],
          );
        }
      },
      (err) =>
        mysqlCode(err) === 'ER_DUP_ENTRY'
          ? new SentinelError('SNT_DEVICE_EXISTS', `device "${device.clientId}" already exists`, {
              cause: err,
            })
          : undefined,
    );
  }

  async list(): Promise<DeviceSummary[]> {
    const devices = await this.query<DeviceRow>(
      'listing devices',
      'SELECT client_id, username, enabled, disabled_reason, created_at, updated_at FROM devices ORDER BY client_id',
      [],
    );
    const acls = await this.query<AclRow>(
      'listing devices',
      'SELECT client_id, action, topic_pattern FROM device_acls ORDER BY id',
      [],
    );
    const byDevice = aclsByClient(acls);
    return devices.map((row) => summaryOf(row, collectAcls(byDevice.get(row.client_id) ?? [])));
  }

  /** Disables a device (idempotent); SNT_DEVICE_UNKNOWN if there is no such device. */
  async disable(clientId: string, reason?: string): Promise<void> {
    const text = reason ?? null;
    checkDisableReason(text);
    await this.update(clientId, 'UPDATE devices SET enabled = 0, disabled_reason = ? WHERE client_id = ?', [
      text,
      clientId,
    ]);
  }

  /** Enables a device again (idempotent); SNT_DEVICE_UNKNOWN if there is no such device. */
  async enable(clientId: string): Promise<void> {
    await this.update(
      clientId,
      'UPDATE devices SET enabled = 1, disabled_reason = NULL WHERE client_id = ?',
      [clientId],
    );
  }

  /** One device as `list` shows it; undefined when there is none. */
  async show(clientId: string): Promise<DeviceSummary | undefined> {
    const rows = await this.query<DeviceRow>(
      'showing a device',
      'SELECT client_id, username, enabled, disabled_reason, created_at, updated_at FROM devices WHERE client_id = ?',
      [clientId],
    );
    const row = rows.find((r) => r.client_id === clientId);
    if (!row) return undefined;
    return summaryOf(row, await this.loadAcls(clientId));
  }

  /** Removes a device and its ACLs; SNT_DEVICE_UNKNOWN if there is no such device. */
  async remove(clientId: string): Promise<void> {
    await this.update(clientId, 'DELETE FROM devices WHERE client_id = ?', [clientId]);
  }

  /**
   * Adds or updates devices in batches of 500, one transaction per batch: a device absent is added,
   * one whose user name, credentials and ACLs are already those given is left alone, any other is
   * updated (its ACLs replaced). Idempotent: the same file twice changes nothing the second time.
   * A given password is checked against the stored hash before it is hashed again (a KDF each);
   * a given `password_hash` is compared as is.
   */
  async importDevices(
    devices: readonly ImportedDevice[],
  ): Promise<{ added: string[]; updated: string[]; unchanged: string[] }> {
    const result = { added: [] as string[], updated: [] as string[], unchanged: [] as string[] };
    for (let i = 0; i < devices.length; i += 500) {
      const batch = devices.slice(i, i + 500);
      const ids = batch.map((d) => d.clientId);
      const marks = ids.map(() => '?').join(',');
      const existing = new Map(
        (
          await this.query<DeviceRow>(
            'importing devices',
            `SELECT client_id, username, password_hash FROM devices WHERE client_id IN (${marks})`,
            ids,
          )
        ).map((row) => [row.client_id, row]),
      );
      const aclRows = await this.query<AclRow>(
        'importing devices',
        `SELECT client_id, action, topic_pattern FROM device_acls WHERE client_id IN (${marks}) ORDER BY id`,
        ids,
      );
      const acls = aclsByClient(aclRows);
      const params = this.options.hashParams ?? defaultScryptParams;
      const planned = await Promise.all(
        batch.map(async (device) => {
          const stored = existing.get(device.clientId);
          let hash = device.passwordHash;
          if (hash === undefined) {
            const keep =
              stored !== undefined &&
              !needsRehash(stored.password_hash, params) &&
              (await verifyPassword(device.password ?? '', stored.password_hash));
            hash = keep ? stored!.password_hash : await hashPassword(device.password ?? '', params);
          }
          const storedAcls = collectAcls(acls.get(device.clientId) ?? []);
          const same =
            stored !== undefined &&
            stored.username === device.username &&
            stored.password_hash === hash &&
            sameList(storedAcls.publish, device.publish) &&
            sameList(storedAcls.subscribe, device.subscribe);
          return {
            device,
            hash,
            kind: stored === undefined ? 'added' : same ? 'unchanged' : 'updated',
          } as const;
        }),
      );
      const writes = planned.filter(
        (p): p is (typeof planned)[number] & { kind: 'added' | 'updated' } => p.kind !== 'unchanged',
      );
      if (writes.length > 0) await this.#writeBatch(writes);
      for (const p of planned) result[p.kind].push(p.device.clientId);
    }
    return result;
  }

  async #writeBatch(
    writes: ReadonlyArray<{ device: ImportedDevice; hash: string; kind: 'added' | 'updated' }>,
  ): Promise<void> {
    await this.#inTransaction('importing devices', async (connection) => {
      const rows = writes.map((w) => [w.device.clientId, w.device.username, w.hash]);
      // One statement for the batch: new devices inserted, changed ones given their new credentials.
      await connection.query(
        {
          sql: `INSERT INTO devices (client_id, username, password_hash) VALUES ?
                ON DUPLICATE KEY UPDATE username = VALUES(username), password_hash = VALUES(password_hash)`,
          timeout: this.timeout,
        },
        [rows],
      );
      const updated = writes.filter((w) => w.kind === 'updated').map((w) => w.device.clientId);
      if (updated.length > 0)
        await connection.query(
          { sql: 'DELETE FROM device_acls WHERE client_id IN (?)', timeout: this.timeout },
          [updated],
        );
      const grants = writes.flatMap((w) => [
        ...w.device.publish.map((p) => [w.device.clientId, 'publish', p]),
        ...w.device.subscribe.map((p) => [w.device.clientId, 'subscribe', p]),
      ]);
      if (grants.length > 0)
        await connection.query(
          {
            sql: 'INSERT INTO device_acls (client_id, action, topic_pattern) VALUES ?',
            timeout: this.timeout,
          },
          [grants],
        );
    });
  }

  /**
   * Runs `work` in one transaction on a pooled connection: committed, or rolled back and reported
   * as SNT_DEVICE_DB_UNAVAILABLE (or as what `translate` makes of the error).
   */
  async #inTransaction(
    what: string,
    work: (connection: mysql.PoolConnection) => Promise<void>,
    translate: (err: unknown) => Error | undefined = () => undefined,
  ): Promise<void> {
    let connection: mysql.PoolConnection;
    try {
      connection = await this.pool.getConnection();
    } catch (err) {
      throw unavailable(what, err);
    }
    try {
      await connection.beginTransaction();
      await work(connection);
      await connection.commit();
    } catch (err) {
      await connection.rollback().catch(() => undefined);
      throw translate(err) ?? unavailable(what, err);
    } finally {
      connection.release();
    }
  }

  /** The device row and its ACL patterns in one round trip (the CONNECT path's only DB query). */
  async findForAuth(clientId: string): Promise<DeviceCredentials | undefined> {
    const rows = await this.query<DeviceRow & Partial<AclRow>>(
      'looking up a device',
      `SELECT d.client_id, d.username, d.password_hash, d.enabled, a.action, a.topic_pattern
         FROM devices d LEFT JOIN device_acls a ON a.client_id = d.client_id
        WHERE d.client_id = ? ORDER BY a.id`,
      [clientId],
    );
    const row = rows[0];
    // The collation (utf8mb4_bin, PAD SPACE) finds "dev-1" for "dev-1 "; a device is its exact id.
    if (!row || row.client_id !== clientId) return undefined;
    return {
      clientId: row.client_id,
      username: row.username,
      passwordHash: row.password_hash,
      enabled: row.enabled === 1,
      acls: collectAcls(rows.filter((r): r is DeviceRow & AclRow => typeof r.topic_pattern === 'string')),
    };
  }

  async loadAcls(clientId: string): Promise<DeviceAcls> {
    const rows = await this.query<AclRow>(
      'loading ACLs',
      'SELECT client_id, action, topic_pattern FROM device_acls WHERE client_id = ? ORDER BY id',
      [clientId],
    );
    return collectAcls(rows);
  }

  private async update(clientId: string, sql: string, values: Array<string | null>): Promise<void> {
    // MySQL reports changed rows, not matched ones, so an idempotent update needs its own existence check.
    const found = await this.query<DeviceRow>(
      'updating a device',
      'SELECT client_id FROM devices WHERE client_id = ?',
      [clientId],
    );
    // Exact, as in findForAuth: the collation would match "dev-1 " to "dev-1".
    if (!found.some((row) => row.client_id === clientId))
      throw new SentinelError('SNT_DEVICE_UNKNOWN', `no device "${clientId}"`);
    try {
      await this.pool.execute({ sql, timeout: this.timeout }, values);
    } catch (err) {
      throw unavailable('updating a device', err);
    }
  }

  private async query<T extends mysql.RowDataPacket>(
    what: string,
    sql: string,
    values: Array<string | null>,
  ): Promise<T[]> {
    try {
      const [rows] = await this.pool.execute<T[]>({ sql, timeout: this.timeout }, values);
      return rows;
    } catch (err) {
      throw unavailable(what, err);
    }
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

function aclsByClient(rows: readonly AclRow[]): Map<string, AclRow[]> {
  const byClient = new Map<string, AclRow[]>();
  for (const row of rows) {
    const list = byClient.get(row.client_id);
    if (list) list.push(row);
    else byClient.set(row.client_id, [row]);
  }
  return byClient;
}

function summaryOf(row: DeviceRow, acls: DeviceAcls): DeviceSummary {
  return {
    clientId: row.client_id,
    username: row.username,
    enabled: row.enabled === 1,
    disabledReason: row.disabled_reason,
    publish: acls.publish,
    subscribe: acls.subscribe,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
