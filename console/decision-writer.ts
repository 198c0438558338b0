import { randomUUID } from 'node:crypto';
import { type Delivered, isAbortableTransactionError, type RecordProducer } from '../lib/kafka/rdkafka.js';
import type { TopicNames } from '../lib/kafka/topics.js';
import type { SchemaCatalog } from '../schemas/catalog.js';
import type {
  ApprovedMessage,
  HeldMessage,
  QuarantineAction,
  QuarantineDecision,
  Verdict,
} from '../schemas/types.generated.js';
import { statusOfAction } from './model.js';

export interface DecisionRequest {
  readonly held: HeldMessage;
  readonly action: QuarantineAction;
  readonly operator: string;
  readonly reason: string;
}

/**
 * Writes decisions on held messages, each in one Kafka transaction with what it causes:
 *
 * - the decision record (`sentinel.quarantine.decisions`, key held id);
 * - its verdict (`sentinel.verdicts`: released, dropped or expired, with the review), so the
 *   verdict stream and the forensic store show who decided what and why;
 * - for a release, the message for the origin (`sentinel.approved`, key client id, event id = held
 *   id), whose `packetRef` is the decision record's position: the bridge keeps a replay mark per
 *   source (lib/kafka/replays.ts), and decision positions only grow, so a release is delivered once
 *   even though its packet is older than what the bridge delivered since.
 *
 * The bridge and the sink read committed records only, so a release whose transaction aborts
 * reaches nobody. The producer's transactional id is fixed per deployment: a second console with
 * the same id fences the first, so one writer decides at a time, and the caller (QuarantineService)
 * makes each held id decided once within that writer.
 */
export class DecisionWriter {
  constructor(
    private readonly producer: RecordProducer,
    private readonly catalog: SchemaCatalog,
    private readonly topics: TopicNames,
    private readonly now: () => number = Date.now,
  ) {}

  /** Fences an earlier writer with the same transactional id and settles its open transaction. */
  init(): Promise<void> {
    return this.producer.initTransactions();
  }

  /** Writes the decisions in one transaction; resolves with them once committed. */
  async write(requests: readonly DecisionRequest[]): Promise<QuarantineDecision[]> {
    if (requests.length === 0) return [];
    const decidedAt = this.now();
    const decisions = requests.map(
      (r): QuarantineDecision => ({
        decisionId: randomUUID(),
        heldId: r.held.heldId,
        clientId: r.held.clientId,
        topic: r.held.topic,
        action: r.action,
        operator: r.operator,
        reason: r.reason,
        heldAt: r.held.heldAt,
        decidedAt,
      }),
    );
    await this.producer.beginTransaction();
    try {
      const positions = await Promise.all(
        decisions.map((d) =>
          this.producer.send({
            topic: this.topics.decisions,
            key: d.heldId,
            value: this.catalog.encode('decisions', d),
          }),
        ),
      );
      const outcomes: Promise<Delivered>[] = [];
      decisions.forEach((decision, i) => {
        const held = (requests[i] as DecisionRequest).held;
        const position = positions[i] as Delivered;
        const ref = { topic: this.topics.decisions, partition: position.partition, offset: position.offset };
        if (decision.action === 'release') {
          outcomes.push(
            this.producer.send({
              topic: this.topics.approved,
              key: held.clientId,
              value: this.catalog.encode('approved', releasedMessage(held, ref, decidedAt)),
            }),
          );
        }
        outcomes.push(
          this.producer.send({
            topic: this.topics.verdicts,
            key: held.clientId,
            value: this.catalog.encode('verdicts', reviewVerdict(held, decision, ref)),
          }),
        );
      });
      await Promise.all(outcomes);
      await this.producer.commitTransaction();
      return decisions;
    } catch (err) {
      if (isAbortableTransactionError(err)) await this.producer.abortTransaction();
      throw err;
    }
  }
}

type SourceRef = ApprovedMessage['packetRef'];

function releasedMessage(held: HeldMessage, ref: SourceRef, approvedAt: number): ApprovedMessage {
  return {
    eventId: held.heldId,
    clientId: held.clientId,
    topic: held.topic,
    payload: held.payload,
    qos: held.qos,
    retain: held.retain,
    sourceIp: held.sourceIp,
    proxyId: held.proxyId,
    receivedAt: held.receivedAt,
    approvedAt,
    packetRef: ref,
  };
}

function reviewVerdict(held: HeldMessage, decision: QuarantineDecision, ref: SourceRef): Verdict {
  return {
    eventId: held.heldId,
    clientId: held.clientId,
    packetType: 'PUBLISH',
    sourceIp: held.sourceIp,
    proxyId: held.proxyId,
    topic: held.topic,
    decision: statusOfAction[decision.action],
    mode: 'enforce',
    findings: held.findings,
    packetRef: ref,
    receivedAt: held.receivedAt,
    decidedAt: decision.decidedAt,
    processingLatencyMs: decision.decidedAt - held.receivedAt,
    review: { decisionId: decision.decisionId, operator: decision.operator, reason: decision.reason },
  };
}
