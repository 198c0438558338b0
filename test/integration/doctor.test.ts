import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { before, describe, it } from 'node:test';
import { ensurePlatform, runCli } from '../helpers/platform.js';

/** `sentinel doctor` on the real machine and platform (issue 17). */
describe('sentinel doctor', () => {
  before(async () => {
    await ensurePlatform();
  });

  it('with the platform up, reports every component healthy and exits 0', async () => {
    const result = await runCli(['doctor', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const findings = JSON.parse(result.stdout) as Array<{ check: string; status: string }>;
    for (const check of [
      'Node',
      'system packages',
      'kafka-1',
      'kafka-2',
      'kafka-3',
      'registry',
      'redis',
      'device-db',
      'disk',
    ])
      assert.equal(findings.find((f) => f.check === check)?.status, 'ok', check);
  });

  it('names a port another program holds, the setting that names it and the fix; exits 1', async () => {
    // A port of its own, held by a plain TCP server of this test, given to the edge's setting.
    const squatter = createServer();
    squatter.listen(0, '127.0.0.1');
    await once(squatter, 'listening');
    const port = (squatter.address() as { port: number }).port;
    try {
      const result = await runCli(['doctor'], { SENTINEL_INGEST_TLS_PORT: String(port) });
      assert.equal(result.code, 1, result.stdout);
      assert.match(
        result.stdout,
        new RegExp(`port ${port} +fail +SENTINEL_INGEST_TLS_PORT is ${port}, taken by \\S*node`),
      );
      assert.match(result.stdout, /choose another port: SENTINEL_INGEST_TLS_PORT=<port>/);
    } finally {
      squatter.close();
    }
  });
});
