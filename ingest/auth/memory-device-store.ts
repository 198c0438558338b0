import { SentinelError } from '../../lib/errors.js';
import type { DeviceAcls } from './acl.js';
import {
  type AclAction,
  checkDisableReason,
  checkNewDevice,
  collectAcls,
  type DeviceCredentials,
  type DeviceRegistry,
  type DeviceSummary,
  type NewDevice,
} from './device-store.js';
import { defaultScryptParams, hashPassword, type ScryptParams } from './password.js';

/**
 * The device DB's test double: `DeviceStore`'s behaviour (validation, error codes, exact client
 * ids, ACL order, list order by the bytes of the client id as utf8mb4_bin sorts) over a Map.
 * test/contract/device-directory.contract.ts holds both to one specification.
 */
interface Row {
  readonly clientId: string;
  readonly username: string;
  readonly passwordHash: string;
  enabled: boolean;
  disabledReason: string | null;
  readonly acls: ReadonlyArray<{ readonly action: AclAction; readonly topic_pattern: string }>;
  readonly createdAt: Date;
  updatedAt: Date;
}

export class MemoryDeviceStore implements DeviceRegistry {
  /** While true every call fails as an unreachable device DB does (SNT_DEVICE_DB_UNAVAILABLE). */
  down = false;
  /** findForAuth calls so far: what a test counts to prove a lookup was (not) made. */
  lookups = 0;
  readonly #rows = new Map<string, Row>();

  constructor(
    private readonly options: { readonly hashParams?: ScryptParams; readonly now?: () => Date } = {},
  ) {}

  /** Puts a row as it would be in the DB, hash included (a tampered hash, a disabled device). */
  seed(device: DeviceCredentials): void {
    this.#put(device, device.acls);
  }

  async add(device: NewDevice): Promise<void> {
    checkNewDevice(device);
    const passwordHash = await hashPassword(device.password, this.options.hashParams ?? defaultScryptParams);
    this.#reachable('adding a device');
    if (this.#rows.has(device.clientId)) {
      throw new SentinelError('SNT_DEVICE_EXISTS', `device "${device.clientId}" already exists`);
    }
    this.#put(
      { clientId: device.clientId, username: device.username, passwordHash, enabled: true },
      { publish: device.publish ?? [], subscribe: device.subscribe ?? [] },
    );
  }

  async list(): Promise<DeviceSummary[]> {
    this.#reachable('listing devices');
    return [...this.#rows.values()]
      .sort((a, b) => Buffer.compare(Buffer.from(a.clientId), Buffer.from(b.clientId)))
      .map((row) => ({
        clientId: row.clientId,
        username: row.username,
        enabled: row.enabled,
        disabledReason: row.disabledReason,
        ...collectAcls(row.acls),
        createdAt: row.createdAt.toISOString(),
        updatedAt: row.updatedAt.toISOString(),
      }));
  }

  async disable(clientId: string, reason?: string): Promise<void> {
    const text = reason ?? null;
    checkDisableReason(text);
    const row = this.#existing(clientId);
    if (row.enabled || row.disabledReason !== text) row.updatedAt = this.#now();
    row.enabled = false;
    row.disabledReason = text;
  }

  async enable(clientId: string): Promise<void> {
    const row = this.#existing(clientId);
    if (!row.enabled || row.disabledReason !== null) row.updatedAt = this.#now();
    row.enabled = true;
    row.disabledReason = null;
  }

  async findForAuth(clientId: string): Promise<DeviceCredentials | undefined> {
    this.lookups++;
    this.#reachable('looking up a device');
    const row = this.#rows.get(clientId);
    if (!row) return undefined;
    return {
      clientId: row.clientId,
      username: row.username,
      passwordHash: row.passwordHash,
      enabled: row.enabled,
      acls: collectAcls(row.acls),
    };
  }

  async loadAcls(clientId: string): Promise<DeviceAcls> {
    this.#reachable('loading ACLs');
    return collectAcls(this.#rows.get(clientId)?.acls ?? []);
  }

  #put(device: Omit<DeviceCredentials, 'acls'>, acls: DeviceAcls): void {
    const now = this.#now();
    this.#rows.set(device.clientId, {
      clientId: device.clientId,
      username: device.username,
      passwordHash: device.passwordHash,
      enabled: device.enabled,
      disabledReason: null,
      // The order `DeviceStore.add` inserts them in, which is the order it reads them back.
      acls: [
        ...acls.publish.map((p) => ({ action: 'publish' as const, topic_pattern: p })),
        ...acls.subscribe.map((p) => ({ action: 'subscribe' as const, topic_pattern: p })),
      ],
      createdAt: now,
      updatedAt: now,
    });
  }

  #existing(clientId: string): Row {
    this.#reachable('updating a device');
    const row = this.#rows.get(clientId);
    if (!row) throw new SentinelError('SNT_DEVICE_UNKNOWN', `no device "${clientId}"`);
    return row;
  }

  #reachable(what: string): void {
    if (this.down) {
      throw new SentinelError('SNT_DEVICE_DB_UNAVAILABLE', `device DB did not answer while ${what} (down)`);
    }
  }

  #now(): Date {
    return this.options.now?.() ?? new Date();
  }
}
