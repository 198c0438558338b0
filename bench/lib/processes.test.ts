import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { it } from 'node:test';
import { machineCpuSeconds, treeCpuSeconds } from './processes.js';

it("machineCpuSeconds counts this process's work as busy time, and never more than the cores give", () => {
  const before = machineCpuSeconds();
  const ownBefore = treeCpuSeconds(process.pid);
  const startedAt = performance.now();
  // Busy until this process accrued ten clock ticks of its own: the machine-wide counters are
  // sampled per tick on each core apart from the process's, so only a margin of ticks compares.
  while (treeCpuSeconds(process.pid) - ownBefore < 0.1) Math.sqrt(Math.random());
  const wallSeconds = (performance.now() - startedAt) / 1000;
  const after = machineCpuSeconds();
  const busy = after.busy - before.busy;
  const total = after.total - before.total;
  assert.ok(busy >= 0.05, `the spin shows as busy time (${busy} s)`);
  assert.ok(busy <= total, 'busy is part of all time');
  assert.ok(total <= (wallSeconds + 0.05) * availableParallelism(), 'no more time than the cores had');
});
