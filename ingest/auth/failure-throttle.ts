import { isIPv4 } from 'node:net';
import { BucketTable } from '../limits/bucket-table.js';

/**
 * Repeated auth failures per source address, throttled before the device DB and the KDF.
 *
 * The CONNECT-per-IP rate tier (ingest/limits) counts CONNECTs, good and bad alike, at 10/s per
 * address; issue 14's flood came from 64 addresses at well under that, each CONNECT costing a DB
 * lookup and a scrypt. This tier counts only what failed: every address has a bucket of `burst`
 * failures refilled at `perMinute`; a CONNECT that would need the KDF is let through while the bucket
 * is not empty, and takes one failure from it when its credentials turn out wrong. Nothing is
 * reserved up front: devices behind one address (a NAT, a gateway) connecting at the same moment
 * must all be served, and the CONNECT-per-IP tier already bounds how many arrive at once. An address
 * with an empty bucket has its uncached CONNECTs refused without any KDF work; its cached devices still connect (the caches answer before this
 * tier is asked). IPv6 addresses count per /64, the block one subscriber usually holds.
 */
export interface AddressFailureThrottleOptions {
  /** Failures an address may have in a row before it is throttled; 0 turns the tier off. */
  readonly burst: number;
  /** Failures forgiven per minute. */
  readonly perMinute: number;
  /** Addresses tracked at most (bounded memory; the idlest go first). */
  readonly maxAddresses: number;
  /** Monotonic milliseconds. */
  readonly now: () => number;
}

const lane = 0;

export class AddressFailureThrottle {
  readonly #table: BucketTable | undefined;

  constructor(private readonly options: AddressFailureThrottleOptions) {
    this.#table =
      options.burst > 0
        ? new BucketTable(options.maxAddresses, [{ perSecond: options.perMinute / 60, burst: options.burst }])
        : undefined;
  }

  /** Addresses tracked now. */
  get size(): number {
    return this.#table?.size ?? 0;
  }

  /** Whether a CONNECT from `address` that needs the KDF may go on; false: throttled. */
  admit(address: string): boolean {
    const table = this.#table;
    if (!table) return true;
    const slot = table.slot(addressKey(address), this.options.now());
    return table.canPay(slot, lane, 1);
  }

  /** Ends an admitted CONNECT: wrong credentials take one failure from the address's bucket. */
  settle(address: string, failed: boolean): void {
    const table = this.#table;
    if (!table || !failed) return;
    // Looked up again: the slot may have been reused for another address meanwhile.
    const slot = table.slot(addressKey(address), this.options.now());
    if (table.canPay(slot, lane, 1)) table.debit(slot, lane, 1);
  }
}

/** The unit an address is counted in: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (isIPv4(address) || !address.includes(':')) return address;
  const [head = '', tail] = address.split('::', 2) as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}
