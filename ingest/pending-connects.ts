import { isIPv6 } from 'node:net';

/**
 * Sockets accepted that have not completed CONNECT (TLS handshake, PROXY header and CONNECT
 * included), bounded in total per proxy process and per source address. A silent socket costs
 * the proxy memory and a file descriptor and costs its sender nothing; without a bound a few
 * thousand of them, opened in a fraction of a second, take what legitimate devices need. A socket
 * over a bound is refused at accept, closed at once.
 *
 * "Per address" is per IPv4 address and per IPv6 /64: one host is usually given a whole /64.
 * Nothing is kept for an address without pending sockets, so the table holds at most as many
 * entries as there are pending sockets.
 */
export interface PendingConnectLimits {
  /** Pending sockets in this process. */
  readonly maxTotal: number;
  /** Pending sockets from one source address (IPv6: one /64). */
  readonly maxPerAddress: number;
}

/** Why a socket was refused at accept: the label of `connections_rejected{reason}`. */
export type PendingRefusal = 'pending_connects' | 'pending_connects_per_address';

/** One pending socket's place in the bounds; released once, when CONNECT completes or the socket closes. */
export interface PendingSlot {
  /**
   * Counts the socket against `address` once it is known (a PROXY protocol header states the
   * device behind a balancer); a refusal leaves the slot held, for its socket's close to release.
   */
  assignAddress(address: string): PendingRefusal | undefined;
  release(): void;
}

export class PendingConnects {
  readonly #limits: PendingConnectLimits;
  readonly #onChange: (pending: number) => void;
  readonly #byAddress = new Map<string, number>();
  #total = 0;

  /** `onChange` hears the pending count after each change (a gauge). */
  constructor(limits: PendingConnectLimits, onChange: (pending: number) => void = () => undefined) {
    this.#limits = limits;
    this.#onChange = onChange;
  }

  /** Sockets pending now. */
  get size(): number {
    return this.#total;
  }

  /** Source addresses with pending sockets: the table's entries. */
  get addresses(): number {
    return this.#byAddress.size;
  }

  /**
   * A slot for a socket just accepted, or why not. `address` undefined: not known yet (PROXY
   * protocol), counted in the total only until `assignAddress`.
   */
  admit(address: string | undefined): PendingSlot | PendingRefusal {
    if (this.#total >= this.#limits.maxTotal) return 'pending_connects';
    const key = address === undefined ? undefined : addressKeyOf(address);
    if (key !== undefined && !this.#take(key)) return 'pending_connects_per_address';
    this.#total++;
    this.#onChange(this.#total);
    let held: string | undefined = key;
    let released = false;
    return {
      assignAddress: (stated) => {
        if (released || held !== undefined) return undefined;
        const statedKey = addressKeyOf(stated);
        if (!this.#take(statedKey)) return 'pending_connects_per_address';
        held = statedKey;
        return undefined;
      },
      release: () => {
        if (released) return;
        released = true;
        if (held !== undefined) this.#give(held);
        this.#total--;
        this.#onChange(this.#total);
      },
    };
  }

  #take(key: string): boolean {
    const count = this.#byAddress.get(key) ?? 0;
    if (count >= this.#limits.maxPerAddress) return false;
    this.#byAddress.set(key, count + 1);
    return true;
  }

  #give(key: string): void {
    const count = (this.#byAddress.get(key) ?? 1) - 1;
    if (count === 0) this.#byAddress.delete(key);
    else this.#byAddress.set(key, count);
  }
}

/** The key an address is bounded under: an IPv4 address as it is, an IPv6 address's /64 prefix. */
export function addressKeyOf(address: string): string {
  const unzoned = address.split('%', 1)[0] ?? address;
  if (unzoned.startsWith('::ffff:') && unzoned.includes('.')) return unzoned.slice(7);
  if (!isIPv6(unzoned)) return unzoned;
  // RFC 4291 §2.2 text form: up to eight 16-bit groups, one run of zero groups written "::", the
  // last 32 bits possibly as a dotted quad (two groups). The /64 is the first four groups.
  const [head = '', tail] = unzoned.split('::');
  const groups = head === '' ? [] : head.split(':');
  if (tail !== undefined) {
    const tailGroups = tail === '' ? [] : tail.split(':');
    const tailCount = tailGroups.reduce((n, group) => n + (group.includes('.') ? 2 : 1), 0);
    while (groups.length < 8 - tailCount) groups.push('0');
  }
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}
