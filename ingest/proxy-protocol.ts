import { BlockList, isIPv4, isIPv6 } from 'node:net';

/**
 * PROXY protocol (HAProxy, "The PROXY protocol" versions 1 and 2): an L4 load balancer prepends the
 * device's address to the TCP stream, before MQTT or the TLS handshake. This module only reads that
 * header from the first bytes of a connection; edge.ts decides what to do with the result. It
 * returns "need more bytes" until the header is complete, so a header split across TCP segments is
 * read the same as one that arrived whole.
 */
export type ProxyProtocolMode = 'off' | 'v1' | 'v2' | 'any';

export type ProxyRefusalCode =
  /** The first bytes are neither header signature: no load balancer in front, or one not sending it. */
  | 'missing'
  /** A signature, then bytes the grammar does not allow. */
  | 'malformed'
  /** A valid header of the version this listener was not configured for. */
  | 'version'
  /** The header is longer than this reader keeps (v1 is at most 107 bytes by the spec; v2 below). */
  | 'oversized';

export interface ProxiedAddress {
  readonly ip: string;
  readonly port: number;
}

export type ProxyHeaderResult =
  | { readonly status: 'incomplete' }
  | { readonly status: 'refused'; readonly code: ProxyRefusalCode; readonly reason: string }
  | {
      readonly status: 'complete';
      readonly version: 1 | 2;
      /** Bytes the header took; what follows is the device's stream. */
      readonly length: number;
      /**
       * The device's address, or undefined when the header carries none (v1 UNKNOWN, v2 LOCAL or an
       * unspecified/UNIX family): the connection then keeps the socket's own peer address.
       */
      readonly source: ProxiedAddress | undefined;
    };

const v1Prefix = Buffer.from('PROXY ', 'latin1');
/** Spec §2.1: "a receiver may reject a header longer than 107 bytes", CRLF included. */
const v1MaxLength = 107;
/** Spec §2.2: \r\n\r\n\0\r\nQUIT\n. */
const v2Signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/**
 * Address block plus TLVs (AWS and Azure add a few, tens of bytes). The 16-bit length would allow
 * 64 KiB per connection before a single MQTT byte; 1 KiB bounds what an unauthenticated peer can
 * make the edge hold.
 */
export const v2MaxPayload = 1024;

const incomplete: ProxyHeaderResult = { status: 'incomplete' };

function refuse(code: ProxyRefusalCode, reason: string): ProxyHeaderResult {
  return { status: 'refused', code, reason };
}

/** True while `bytes` could still be the start of `signature`. */
function startsLike(bytes: Buffer, signature: Buffer): boolean {
  const n = Math.min(bytes.length, signature.length);
  return bytes.subarray(0, n).equals(signature.subarray(0, n));
}

/** Decimal port 0-65535 without leading zeros (spec §2.1). */
function parsePort(text: string): number | undefined {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

function parseV1(bytes: Buffer): ProxyHeaderResult {
  const end = bytes.indexOf('\r\n', 0, 'latin1');
  if (end < 0) {
    return bytes.length >= v1MaxLength
      ? refuse('oversized', `v1 header without CRLF in its first ${v1MaxLength} bytes`)
      : incomplete;
  }
  const length = end + 2;
  if (length > v1MaxLength) return refuse('oversized', `v1 header of ${length} bytes (max ${v1MaxLength})`);
  const line = bytes.toString('latin1', 0, end);
  // "PROXY" SP protocol [SP src SP dst SP sport SP dport] CRLF, single spaces.
  const fields = line.split(' ');
  const protocol = fields[1];
  if (protocol === 'UNKNOWN') return { status: 'complete', version: 1, length, source: undefined };
  if (protocol !== 'TCP4' && protocol !== 'TCP6')
    return refuse('malformed', `v1 protocol ${JSON.stringify(protocol)} is not TCP4, TCP6 or UNKNOWN`);
  if (fields.length !== 6) return refuse('malformed', `v1 ${protocol} needs 4 fields after it`);
  const [, , source, destination, sourcePort, destinationPort] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const isFamily = protocol === 'TCP4' ? isIPv4 : isIPv6;
  if (!isFamily(source) || !isFamily(destination))
    return refuse('malformed', `v1 ${protocol} addresses are not ${protocol === 'TCP4' ? 'IPv4' : 'IPv6'}`);
  const port = parsePort(sourcePort);
  if (port === undefined || parsePort(destinationPort) === undefined)
    return refuse('malformed', 'v1 ports must be decimal 0-65535 without leading zeros');
  return { status: 'complete', version: 1, length, source: { ip: source, port } };
}

function ipv6Text(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // Canonical form (RFC 5952) through the URL parser, which compresses the longest zero run.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

function parseV2(bytes: Buffer): ProxyHeaderResult {
  // 12 signature | ver<<4|cmd | family<<4|transport | length (u16 BE) | addresses | TLVs
  if (bytes.length < 16) return incomplete;
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) return refuse('malformed', `v2 version nibble ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  if (command > 1) return refuse('malformed', `v2 command ${command} is neither LOCAL nor PROXY`);
  const familyTransport = bytes[13]!;
  const payload = bytes.readUInt16BE(14);
  if (payload > v2MaxPayload)
    return refuse('oversized', `v2 header of ${payload} bytes (max ${v2MaxPayload})`);
  const length = 16 + payload;
  if (bytes.length < length) return incomplete;
  // LOCAL: the proxy's own connection (a health check); the addresses, if any, are ignored.
  if (command === 0) return { status: 'complete', version: 2, length, source: undefined };
  const family = familyTransport >> 4;
  const transport = familyTransport & 0x0f;
  if (family > 3 || transport > 2)
    return refuse('malformed', `v2 family/transport byte 0x${familyTransport.toString(16)}`);
  // UNSPEC family or transport, or AF_UNIX: no address the edge can use.
  if (family === 0 || family === 3 || transport === 0)
    return { status: 'complete', version: 2, length, source: undefined };
  if (transport !== 1) return refuse('malformed', 'v2 header for a datagram (UDP) connection');
  const block = bytes.subarray(16, length);
  if (family === 1) {
    if (block.length < 12) return refuse('malformed', `v2 TCP4 address block of ${block.length} bytes`);
    const ip = `${block[0]}.${block[1]}.${block[2]}.${block[3]}`;
    return { status: 'complete', version: 2, length, source: { ip, port: block.readUInt16BE(8) } };
  }
  if (block.length < 36) return refuse('malformed', `v2 TCP6 address block of ${block.length} bytes`);
  const ip = ipv6Text(block.subarray(0, 16));
  return { status: 'complete', version: 2, length, source: { ip, port: block.readUInt16BE(32) } };
}

/**
 * Reads a PROXY header from the start of `bytes` (everything received so far on the connection).
 * `mode` says which versions this listener accepts; `off` is the caller's business (it never calls).
 */
export function parseProxyHeader(bytes: Buffer, mode: Exclude<ProxyProtocolMode, 'off'>): ProxyHeaderResult {
  if (bytes.length === 0) return incomplete;
  if (startsLike(bytes, v1Prefix)) {
    if (mode === 'v2') return refuse('version', 'a v1 header on a listener that accepts v2 only');
    return bytes.length < v1Prefix.length ? incomplete : parseV1(bytes);
  }
  if (startsLike(bytes, v2Signature)) {
    if (mode === 'v1') return refuse('version', 'a v2 header on a listener that accepts v1 only');
    return bytes.length < v2Signature.length ? incomplete : parseV2(bytes);
  }
  return refuse('missing', 'the connection does not start with a PROXY protocol header');
}

/**
 * The load balancers allowed to state a client address: a header from any other peer is refused,
 * or anyone who can reach the edge could claim any IP and walk around the per-IP limits.
 */
export class TrustedProxies {
  readonly #list = new BlockList();
  readonly cidrs: readonly string[];

  constructor(cidrs: readonly string[]) {
    this.cidrs = cidrs;
    for (const cidr of cidrs) {
      const [address, bits] = cidr.split('/') as [string, string | undefined];
      const family = isIPv4(address) ? 'ipv4' : 'ipv6';
      this.#list.addSubnet(address, Number(bits ?? (family === 'ipv4' ? 32 : 128)), family);
    }
  }

  /** `address` as a socket reports it (IPv4-mapped IPv6 included). */
  allows(address: string): boolean {
    if (address.startsWith('::ffff:') && isIPv4(address.slice(7)))
      return this.#list.check(address.slice(7), 'ipv4');
    if (isIPv4(address)) return this.#list.check(address, 'ipv4');
    return isIPv6(address) && this.#list.check(address, 'ipv6');
  }
}

/** Parses "10.0.0.0/8,fd00::/8"; returns the list, or why it is not one. */
export function parseCidrList(raw: string): string[] | string {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const item of items) {
    const [address, bits, extra] = item.split('/');
    if (extra !== undefined || address === undefined) return `"${item}" is not address/bits`;
    const max = isIPv4(address) ? 32 : isIPv6(address) ? 128 : -1;
    if (max < 0) return `"${address}" is not an IPv4 or IPv6 address`;
    if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max))
      return `"/${bits}" is not a prefix length 0-${max}`;
  }
  return items;
}
