import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupIdForOffsetsPartition, javaStringHash } from './kafka.js';

describe('group coordinator probes', () => {
  it("hash a group id as Java's String.hashCode does (Kafka's partitioning of __consumer_offsets)", () => {
    assert.equal(javaStringHash('hello'), 99162322);
    assert.equal(javaStringHash(''), 0);
    // The one string whose hash is Integer.MIN_VALUE: Kafka's abs maps it to partition 0.
    assert.equal(javaStringHash('polygenelubricants'), -2147483648);
  });

  it('find a probe group for every partition, each mapping to the partition asked for', () => {
    for (const partitions of [1, 3, 50]) {
      for (let partition = 0; partition < partitions; partition++) {
        const groupId = groupIdForOffsetsPartition(partition, partitions);
        assert.equal(
          (javaStringHash(groupId) & 0x7fffffff) % partitions,
          partition,
          `${groupId} of ${partitions}`,
        );
      }
    }
  });
});
