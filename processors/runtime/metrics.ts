import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * What the Kafka runtime moves, in the service's registry. Labels are bounded: packet types and
 * decisions are enumerations, partitions are the input topic's, and rule ids are those of the rules
 * file and the built-in rules (anything else is counted as 'other').
 */
export interface ProcessorMetrics {
  readonly events: Counter<'packet_type'>;
  readonly verdicts: Counter<'decision'>;
  readonly findings: Counter<'class' | 'rule_id'>;
  readonly approved: Counter;
  readonly held: Counter;
  readonly transactions: Counter<'outcome'>;
  readonly transactionDuration: Histogram;
  /** Each round-trip group of a transaction: send (AddPartitionsToTxn + Produce), offsets, commit (EndTxn). */
  readonly transactionPhase: Histogram<'phase'>;
  /** Fetched (batch handed to the runtime) -> its transaction committed. */
  readonly fetchToCommit: Histogram;
  readonly transactionEvents: Histogram;
  /** Input partitions whose chunks one transaction carried (at most the partitions of a group). */
  readonly transactionPartitions: Histogram;
  readonly inspectDuration: Histogram;
  readonly consumerLag: Gauge<'partition'>;
  readonly restoredRecords: Counter;
  readonly restoreDuration: Histogram;
  readonly assignedPartitions: Gauge;
  /** Maps a rule id to its label value. */
  ruleLabel(ruleId: string): string;
}

export function createProcessorMetrics(registry: Registry, knownRuleIds: Iterable<string>): ProcessorMetrics {
  const known = new Set(knownRuleIds);
  const registers = [registry];
  return {
    events: new Counter({
      name: 'sentinel_processor_events_total',
      help: 'packet events inspected (replays after a crash or rebalance included), by MQTT packet type',
      labelNames: ['packet_type'],
      registers,
    }),
    verdicts: new Counter({
      name: 'sentinel_processor_verdicts_total',
      help: 'verdicts sent to the verdicts topic, by decision',
      labelNames: ['decision'],
      registers,
    }),
    findings: new Counter({
      name: 'sentinel_processor_findings_total',
      help: 'findings in sent verdicts, by class and rule id',
      labelNames: ['class', 'rule_id'],
      registers,
    }),
    approved: new Counter({
      name: 'sentinel_processor_approved_total',
      help: 'allowed PUBLISHes sent to the approved topic',
      registers,
    }),
    held: new Counter({
      name: 'sentinel_processor_held_total',
      help: 'quarantined PUBLISHes kept whole in the quarantine topic for review',
      registers,
    }),
    transactions: new Counter({
      name: 'sentinel_processor_transactions_total',
      help: 'checkpoint transactions (changelog + input offsets), by outcome: committed or aborted',
      labelNames: ['outcome'],
      registers,
    }),
    transactionDuration: new Histogram({
      name: 'sentinel_processor_transaction_duration_seconds',
      help: 'time of a checkpoint, from its snapshot to its commit',
      buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers,
    }),
    transactionPhase: new Histogram({
      name: 'sentinel_processor_transaction_phase_seconds',
      help: 'time of each step of a checkpoint: acks (outputs acknowledged), offsets (changelog records + TxnOffsetCommit), commit (EndTxn)',
      labelNames: ['phase'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
      registers,
    }),
    fetchToCommit: new Histogram({
      name: 'sentinel_processor_fetch_to_commit_seconds',
      help: 'per partition and checkpoint: from the fetch of its oldest event not yet checkpointed to the checkpoint commit (how much a crash would replay)',
      buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers,
    }),
    transactionEvents: new Histogram({
      name: 'sentinel_processor_transaction_events',
      help: 'packet events a committed checkpoint moved the offsets past',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000],
      registers,
    }),
    transactionPartitions: new Histogram({
      name: 'sentinel_processor_transaction_partitions',
      help: 'input partitions in one committed checkpoint',
      buckets: [1, 2, 3, 4, 6, 8, 12, 16, 24, 32],
      registers,
    }),
    inspectDuration: new Histogram({
      name: 'sentinel_processor_inspect_duration_seconds',
      help: 'time the chain of steps took on one event',
      buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01],
      registers,
    }),
    consumerLag: new Gauge({
      name: 'sentinel_processor_consumer_lag',
      help: 'records between the committed position and the high watermark, per assigned partition',
      labelNames: ['partition'],
      registers,
    }),
    restoredRecords: new Counter({
      name: 'sentinel_processor_state_restored_records_total',
      help: 'changelog records read back into state on start and on partition assignment',
      registers,
    }),
    restoreDuration: new Histogram({
      name: 'sentinel_processor_state_restore_duration_seconds',
      help: 'time to fence the previous owner and restore the state of newly assigned partitions',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers,
    }),
    assignedPartitions: new Gauge({
      name: 'sentinel_processor_assigned_partitions',
      help: 'input partitions this instance owns',
      registers,
    }),
    ruleLabel: (ruleId) => (known.has(ruleId) ? ruleId : 'other'),
  };
}
