import { parentPort, workerData } from 'node:worker_threads';
import { type DetectionFiles, loadDetectionFiles } from './detection-files.js';
import type { PacketEvent } from './model.js';
import { PolicyReplay } from './replay.js';
import type { StepName } from './topology.js';

/** What a replay worker is started with: both chains as files, so it compiles its own rules. */
export interface ReplayWorkerSetup {
  readonly current: DetectionFiles;
  readonly candidate: DetectionFiles;
  readonly chain?: readonly StepName[];
  readonly examplesPerRule: number;
}

// A worker thread of `sentinel inspect --replay` (processors/replay.ts): events in batches, in
// partition order; on `end`, its tally back to the main thread.
if (parentPort) {
  const port = parentPort;
  const setup = workerData as ReplayWorkerSetup;
  const replay = new PolicyReplay({
    current: loadDetectionFiles(setup.current),
    candidate: loadDetectionFiles(setup.candidate),
    ...(setup.chain ? { chain: setup.chain } : {}),
    examplesPerRule: setup.examplesPerRule,
  });
  port.on('message', (message: { events?: PacketEvent[]; end?: boolean }) => {
    for (const event of message.events ?? []) {
      // Buffers arrive as plain Uint8Arrays: the chain reads them as Buffers.
      const payload =
        event.payload === null
          ? null
          : Buffer.from(event.payload.buffer, event.payload.byteOffset, event.payload.byteLength);
      replay.add({ ...event, payload });
    }
    if (message.end) port.postMessage(replay.tally);
  });
}
