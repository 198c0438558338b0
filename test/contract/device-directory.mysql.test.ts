import { createDevicePool, DeviceStore } from '../../ingest/auth/device-store.js';
import { migrateDeviceDb, parseMysqlUrl } from '../../lib/devicedb/migrations.js';
import { uniqueName } from '../helpers/platform.js';
import { contractHashParams, deviceDirectoryContract } from './device-directory.contract.js';

/** The machine's MariaDB (root, no password), in a database of this run's own, dropped afterwards. */
deviceDirectoryContract('DeviceStore on MySQL/MariaDB', async () => {
  const database = uniqueName('contract_devices').replaceAll('-', '_');
  const url = `mysql://root@127.0.0.1:3306/${database}`;
  await migrateDeviceDb(parseMysqlUrl(url));
  const pool = createDevicePool(url, { timeoutMs: 5000, connectionLimit: 2 });
  return {
    directory: new DeviceStore(pool, { hashParams: contractHashParams, queryTimeoutMs: 5000 }),
    async close() {
      await pool.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await pool.end();
    },
  };
});
