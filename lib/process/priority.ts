import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Gives every thread of this process, and every thread it starts later, the nice value `nice`.
 * On Linux a nice value belongs to a thread: setPriority(pid) alone would change the main thread,
 * and threads started before (libuv's pool) would keep theirs, so each task of /proc/self/task is
 * set; threads created afterwards inherit the main thread's. Returns how many threads were changed;
 * where /proc is missing, only the calling thread.
 */
export function setProcessNice(nice: number): number {
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    setPriority(nice);
    return 1;
  }
  let changed = 0;
  for (const task of tasks) {
    try {
      setPriority(Number(task), nice);
      changed++;
    } catch {
      // The thread ended between the listing and the call.
    }
  }
  return changed;
}
