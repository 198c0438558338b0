import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  assignGroups,
  byGroup,
  groupOf,
  groupTransactionalIds,
  legacyTransactionalIds,
  resolveGroupCount,
} from './partition-groups.js';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('partition groups', () => {
  it('partition p is in group p % groups', () => {
    assert.deepEqual(
      range(12).map((p) => groupOf(p, 3)),
      [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2],
    );
    assert.deepEqual(
      [...byGroup(range(12), 3)],
      [
        [0, [0, 3, 6, 9]],
        [1, [1, 4, 7, 10]],
        [2, [2, 5, 8, 11]],
      ],
    );
    assert.deepEqual([...byGroup([5, 1, 5], 4)], [[1, [1, 5]]], 'duplicates and order do not matter');
  });

  it('defaults to one group per 4 partitions; an explicit count wins', () => {
    assert.equal(resolveGroupCount(0, 12), 3);
    assert.equal(resolveGroupCount(0, 48), 12);
    assert.equal(resolveGroupCount(0, 13), 4);
    assert.equal(resolveGroupCount(0, 1), 1);
    assert.equal(resolveGroupCount(0, 0), 1);
    assert.equal(resolveGroupCount(5, 12), 5);
  });

  it('assigns whole groups, every partition exactly once, the same answer for any member order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 16 }),
        (members, partitionCount, groups) => {
          const partitions = range(partitionCount);
          const assigned = assignGroups(members, partitions, groups);
          assert.deepEqual([...assigned.keys()].sort(), [...members].sort(), 'every member gets an entry');
          const all = [...assigned.values()].flat().sort((a, b) => a - b);
          assert.deepEqual(all, partitions, 'every partition once');
          const ownerOfGroup = new Map<number, string>();
          for (const [member, owned] of assigned) {
            for (const p of owned) {
              const g = groupOf(p, groups);
              assert.equal(ownerOfGroup.get(g) ?? member, member, `group ${g} split`);
              ownerOfGroup.set(g, member);
            }
          }
          const shuffled = assignGroups([...members].reverse(), [...partitions].reverse(), groups);
          assert.deepEqual(
            [...shuffled].sort(([a], [b]) => (a < b ? -1 : 1)),
            [...assigned].sort(([a], [b]) => (a < b ? -1 : 1)),
            'deterministic',
          );
          const busy = [...assigned.values()].filter((owned) => owned.length > 0).length;
          assert.equal(busy, Math.min(members.length, byGroup(partitions, groups).size), 'groups spread');
        },
      ),
    );
  });

  it('spreads 12 partitions in 3 groups over 2 and over 4 members', () => {
    assert.deepEqual(
      [...assignGroups(['b', 'a'], range(12), 3)],
      [
        ['a', [0, 2, 3, 5, 6, 8, 9, 11]],
        ['b', [1, 4, 7, 10]],
      ],
    );
    const four = assignGroups(['m1', 'm2', 'm3', 'm4'], range(12), 3);
    assert.deepEqual(four.get('m4'), [], 'more members than groups: one idles');
    assert.deepEqual(assignGroups([], range(4), 2).size, 0);
  });

  it('names transactional ids after the group and the group count; the legacy ids after the partition', () => {
    assert.deepEqual(groupTransactionalIds('sp', 'sentinel.packets', 2, 3, 2), [
      'sp-sentinel.packets-g2of3',
      'sp-sentinel.packets-g2of3.1',
    ]);
    assert.deepEqual(legacyTransactionalIds('sp', 'sentinel.packets', 7), [
      'sp-sentinel.packets-7',
      'sp-sentinel.packets-7.1',
    ]);
  });
});
