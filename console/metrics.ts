import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ConsoleMetrics {
  readonly held: Gauge<'status'>;
  readonly pendingPayloadBytes: Gauge;
  readonly payloadBytesInMemory: Gauge;
  readonly payloadsReadBack: Counter;
  readonly heldRead: Counter;
  readonly decisions: Counter<'action' | 'operator_kind'>;
  readonly decisionDuration: Histogram;
  readonly undecodable: Counter<'topic'>;
  readonly logins: Counter<'outcome'>;
  readonly requests: Counter<'route' | 'status'>;
  readonly streamClients: Gauge;
  readonly streamDropped: Counter;
}

export function createConsoleMetrics(registry: Registry): ConsoleMetrics {
  const registers = [registry];
  return {
    held: new Gauge({
      name: 'sentinel_console_held_messages',
      help: 'held messages the console knows, by status: held (awaiting a decision), released, dropped, expired',
      labelNames: ['status'],
      registers,
    }),
    pendingPayloadBytes: new Gauge({
      name: 'sentinel_console_pending_payload_bytes',
      help: 'payload bytes of held messages awaiting a decision (in memory or let go)',
      registers,
    }),
    payloadBytesInMemory: new Gauge({
      name: 'sentinel_console_payload_bytes_in_memory',
      help: 'payload bytes of held messages kept in memory (at most SENTINEL_CONSOLE_MAX_PAYLOAD_BYTES; older ones are read back from the forensic store)',
      registers,
    }),
    payloadsReadBack: new Counter({
      name: 'sentinel_console_payloads_read_back_total',
      help: 'payloads let go from memory and read back from the forensic store (to show or release a message)',
      registers,
    }),
    heldRead: new Counter({
      name: 'sentinel_console_held_read_total',
      help: 'held messages read from the quarantine topic (first sight of each)',
      registers,
    }),
    decisions: new Counter({
      name: 'sentinel_console_decisions_total',
      help: 'decisions written, by action (release, drop, expire) and who (operator or system)',
      labelNames: ['action', 'operator_kind'],
      registers,
    }),
    decisionDuration: new Histogram({
      name: 'sentinel_console_decision_seconds',
      help: 'time to write one decision transaction (decision record, verdict, approved message) to Kafka',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    undecodable: new Counter({
      name: 'sentinel_console_undecodable_records_total',
      help: 'records of the quarantine topics that could not be decoded and were skipped',
      labelNames: ['topic'],
      registers,
    }),
    logins: new Counter({
      name: 'sentinel_console_logins_total',
      help: 'sign-in attempts, by outcome: ok, refused (wrong name or password), limited (too many failures)',
      labelNames: ['outcome'],
      registers,
    }),
    requests: new Counter({
      name: 'sentinel_console_requests_total',
      help: 'HTTP requests, by route and status code',
      labelNames: ['route', 'status'],
      registers,
    }),
    streamClients: new Gauge({
      name: 'sentinel_console_stream_clients',
      help: 'open live verdict streams (Server-Sent Events)',
      registers,
    }),
    streamDropped: new Counter({
      name: 'sentinel_console_stream_dropped_total',
      help: 'verdict events not sent to a stream client that was not reading (its buffer was full)',
      registers,
    }),
  };
}
