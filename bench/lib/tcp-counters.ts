import { readFileSync } from 'node:fs';

/**
 * The kernel's TCP counters that say a connection waited before the server saw it: a full listen
 * (accept) queue drops an incoming SYN or the handshake's last ACK, and the SYN or the SYN-ACK is
 * sent again after 1 s, then 3 s, 7 s... (RFC 6298's initial RTO). Machine-wide: during a CONNECT
 * phase they count that phase's connections (client and server are both on this machine), and
 * whatever else connects meanwhile.
 */
export interface TcpCounters {
  /** Handshake packets dropped because an accept queue was full (TcpExt ListenOverflows). */
  readonly listenOverflows: number;
  /** SYNs and SYN-ACKs sent again because no answer came (TcpExt TCPSynRetrans). */
  readonly synRetransmits: number;
}

/** Parses /proc/net/netstat: pairs of lines, a header of field names and a line of values. */
export function parseTcpCounters(netstat: string): TcpCounters {
  const lines = netstat.split('\n');
  const fields = new Map<string, number>();
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const names = lines[i]!.trim().split(/\s+/);
    const values = lines[i + 1]!.trim().split(/\s+/);
    if (names[0] !== 'TcpExt:' || values[0] !== 'TcpExt:') continue;
    for (let k = 1; k < names.length; k++) fields.set(names[k]!, Number(values[k]));
  }
  const field = (name: string) => {
    const value = fields.get(name);
    if (value === undefined || Number.isNaN(value))
      throw new Error(`/proc/net/netstat has no TcpExt ${name}`);
    return value;
  };
  return { listenOverflows: field('ListenOverflows'), synRetransmits: field('TCPSynRetrans') };
}

export function readTcpCounters(): TcpCounters {
  return parseTcpCounters(readFileSync('/proc/net/netstat', 'utf8'));
}

export function tcpCountersSince(before: TcpCounters, after: TcpCounters = readTcpCounters()): TcpCounters {
  return {
    listenOverflows: after.listenOverflows - before.listenOverflows,
    synRetransmits: after.synRetransmits - before.synRetransmits,
  };
}
