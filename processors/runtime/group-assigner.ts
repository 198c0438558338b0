import kafkajs, { type PartitionAssigner } from 'kafkajs';
import { assignGroups } from './partition-groups.js';

const { AssignerProtocol } = kafkajs;

/**
 * The consumer group protocol name of the processors: it carries the group count, so members that
 * divide the partitions differently (or the per-partition version, which uses kafkajs's
 * RoundRobinAssigner) have no protocol in common and the broker refuses the newcomer with
 * INCONSISTENT_GROUP_PROTOCOL, instead of two instances owning the same partition under different
 * transactional ids, which would not fence each other.
 */
export function groupProtocolName(groups: number): string {
  return `sentinel-partition-groups-${groups}`;
}

/**
 * A kafkajs partition assigner that hands out whole partition groups (see partition-groups.ts).
 * The group leader runs `assign`; the answer depends only on the member ids and the partition
 * metadata, so any leader computes the same one.
 */
export function partitionGroupAssigner(groups: number): PartitionAssigner {
  const name = groupProtocolName(groups);
  const version = 1;
  return ({ cluster }) => ({
    name,
    version,
    async assign({ members, topics }) {
      const perMember = new Map<string, Record<string, number[]>>(members.map((m) => [m.memberId, {}]));
      for (const topic of topics) {
        const partitions = cluster.findTopicPartitionMetadata(topic).map((m) => m.partitionId);
        const assigned = assignGroups(
          members.map((m) => m.memberId),
          partitions,
          groups,
        );
        for (const [memberId, owned] of assigned) {
          const assignment = perMember.get(memberId);
          if (assignment && owned.length > 0) assignment[topic] = owned;
        }
      }
      return [...perMember].map(([memberId, assignment]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version,
          assignment,
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name,
        metadata: AssignerProtocol.MemberMetadata.encode({ version, topics, userData: Buffer.alloc(0) }),
      };
    },
  });
}
