import type { Admin } from 'kafkajs';

/**
 * Removing what a run created in the shared cluster, by the run's unique name prefix. Both are
 * safe when nothing (or only part) was created.
 */

/** Deletes the consumer groups named `prefix*`, waiting for members that were killed to time out. */
export async function deleteGroupsNamed(admin: Admin, prefix: string, waitSeconds = 40): Promise<void> {
  for (let tries = 0; ; tries++) {
    const mine = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (mine.length === 0) return;
    try {
      await admin.deleteGroups(mine);
      return;
    } catch (err) {
      // A member killed rather than stopped stays until its session times out (processors and the
      // relay: 10 s, forensics sink: 30 s); its group cannot be deleted before.
      if (tries >= waitSeconds) throw err;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/** Deletes the topics named `prefix*`. */
export async function deleteTopicsNamed(admin: Admin, prefix: string): Promise<void> {
  const mine = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  if (mine.length > 0) await admin.deleteTopics({ topics: mine });
}
