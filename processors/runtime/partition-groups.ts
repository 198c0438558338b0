/**
 * Partition groups: the unit of ownership, fencing and transactions of the processors.
 *
 * The input partitions are divided into a fixed number of groups, partition p in group p % groups.
 * A group is owned by one instance at a time (the group assigner gives all of a group's partitions
 * to the same member), has its own transactional ids, and the ready work of all its partitions is
 * committed in one transaction. Everything here is pure: no Kafka, no clock.
 */

/** Partitions per group when the group count is not set. */
export const defaultGroupSize = 4;

/**
 * The group count in force: the setting, or (0) one group per `defaultGroupSize` partitions, rounded
 * up, so 12 partitions make 3 groups (at most 3 busy instances, 4 partitions per transaction) and
 * 48 make 12.
 */
export function resolveGroupCount(setting: number, partitionCount: number): number {
  if (setting > 0) return setting;
  return Math.max(1, Math.ceil(partitionCount / defaultGroupSize));
}

/** The group of an input partition. */
export function groupOf(partition: number, groups: number): number {
  return partition % groups;
}

/** Partitions by group, each list sorted; groups in ascending order. */
export function byGroup(partitions: Iterable<number>, groups: number): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const p of [...new Set(partitions)].sort((a, b) => a - b)) {
    const g = groupOf(p, groups);
    const list = out.get(g);
    if (list) list.push(p);
    else out.set(g, [p]);
  }
  return new Map([...out].sort(([a], [b]) => a - b));
}

/**
 * Whole groups to members: deterministic (members sorted by id, groups in order, round robin), so
 * every leader computes the same answer, and never splits a group. A member with no group gets an
 * empty list. Groups are dealt largest first so that, when the partition count is not a multiple
 * of the group count, the partitions are spread as evenly as whole groups allow.
 */
export function assignGroups(
  memberIds: readonly string[],
  partitions: readonly number[],
  groups: number,
): Map<string, number[]> {
  const members = [...new Set(memberIds)].sort();
  const out = new Map<string, number[]>(members.map((m) => [m, []]));
  if (members.length === 0) return out;
  const ordered = [...byGroup(partitions, groups).entries()].sort(
    ([ga, pa], [gb, pb]) => pb.length - pa.length || ga - gb,
  );
  ordered.forEach(([, owned], index) => {
    (out.get(members[index % members.length] as string) as number[]).push(...owned);
  });
  for (const list of out.values()) list.sort((a, b) => a - b);
  return out;
}

/**
 * The transactional ids of a group: `<prefix>-<topic>-g<group>of<groups>` and `...of<groups>.1`,
 * used in turn. The group count is in the id so that two configurations never share an id whose
 * fencing would mean something else.
 */
export function groupTransactionalIds(
  prefix: string,
  topic: string,
  group: number,
  groups: number,
  count: number,
): string[] {
  const id = `${prefix}-${topic}-g${group}of${groups}`;
  return Array.from({ length: count }, (_, index) => (index === 0 ? id : `${id}.${index}`));
}

/**
 * The ids the per-partition version used for partition p (`<prefix>-<topic>-<p>` and `.1`). A new
 * owner fences them too, so an instance of that version that missed the upgrade cannot commit.
 */
export function legacyTransactionalIds(prefix: string, topic: string, partition: number): string[] {
  const id = `${prefix}-${topic}-${partition}`;
  return [id, `${id}.1`];
}
