import { MemoryDeviceStore } from '../../ingest/auth/memory-device-store.js';
import { contractHashParams, deviceDirectoryContract } from './device-directory.contract.js';

deviceDirectoryContract('MemoryDeviceStore (test double)', async () => ({
  directory: new MemoryDeviceStore({ hashParams: contractHashParams }),
  close: async () => undefined,
}));
