import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs, { type Cluster, type Logger } from 'kafkajs';
import { groupProtocolName, partitionGroupAssigner } from './group-assigner.js';

const { AssignerProtocol } = kafkajs;

function fakeCluster(partitions: Record<string, number>): Cluster {
  return {
    findTopicPartitionMetadata: (topic: string) =>
      Array.from({ length: partitions[topic] ?? 0 }, (_, partitionId) => ({
        partitionId,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [0],
        isr: [0],
        offlineReplicas: [],
      })),
  } as unknown as Cluster;
}

function assigner(groups: number, partitions: Record<string, number>) {
  return partitionGroupAssigner(groups)({
    cluster: fakeCluster(partitions),
    groupId: 'g',
    logger: {} as Logger,
  });
}

describe('partition group assigner', () => {
  it('has a protocol name per group count, distinct from the per-partition version', () => {
    const a = assigner(3, {});
    assert.equal(a.name, 'sentinel-partition-groups-3');
    assert.notEqual(groupProtocolName(3), groupProtocolName(4));
    assert.notEqual(a.name, 'RoundRobinAssigner');
    const state = a.protocol({ topics: ['t'] });
    assert.equal(state.name, a.name);
    assert.deepEqual(AssignerProtocol.MemberMetadata.decode(state.metadata)?.topics, ['t']);
  });

  it('gives each member whole groups, encoded for kafkajs, the same whichever member leads', async () => {
    const members = ['m-b', 'm-a'].map((memberId) => ({ memberId, memberMetadata: Buffer.alloc(0) }));
    const run = async (order: typeof members) => {
      const result = await assigner(3, { packets: 12 }).assign({ members: order, topics: ['packets'] });
      return Object.fromEntries(
        result.map((r) => [
          r.memberId,
          AssignerProtocol.MemberAssignment.decode(r.memberAssignment)?.assignment,
        ]),
      );
    };
    const decoded = await run(members);
    assert.deepEqual(decoded, {
      'm-a': { packets: [0, 2, 3, 5, 6, 8, 9, 11] },
      'm-b': { packets: [1, 4, 7, 10] },
    });
    assert.deepEqual(await run([...members].reverse()), decoded);
  });

  it('answers every member, an idle one with an empty assignment', async () => {
    const members = ['a', 'b', 'c'].map((memberId) => ({
      memberId,
      memberAssignment: undefined,
      memberMetadata: Buffer.alloc(0),
    }));
    const result = await assigner(2, { packets: 4 }).assign({ members, topics: ['packets'] });
    const decoded = Object.fromEntries(
      result.map((r) => [
        r.memberId,
        AssignerProtocol.MemberAssignment.decode(r.memberAssignment)?.assignment,
      ]),
    );
    assert.deepEqual(decoded, { a: { packets: [0, 2] }, b: { packets: [1, 3] }, c: {} });
  });
});
