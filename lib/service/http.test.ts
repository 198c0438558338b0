import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Counter } from 'prom-client';
import { type ServiceHttp, startServiceHttp } from './http.js';
import { createMetricsRegistry } from './metrics.js';

describe('service HTTP endpoints', () => {
  let http: ServiceHttp;
  let cacheUp = true;
  const registry = createMetricsRegistry('test-service', 'test-1');
  const counter = new Counter({ name: 'sentinel_test_events_total', help: 'events', registers: [registry] });

  before(async () => {
    http = await startServiceHttp({
      host: '127.0.0.1',
      port: 0,
      registry,
      readiness: [
        { name: 'kafka', check: () => true },
        { name: 'redis', check: async () => cacheUp },
      ],
    });
  });
  after(() => http.close());

  const get = (path: string) => fetch(`http://127.0.0.1:${http.port}${path}`);

  it('serves Prometheus metrics with the service labels', async () => {
    counter.inc(3);
    const text = await (await get('/metrics')).text();
    assert.match(text, /sentinel_test_events_total\{service="test-service",instance="test-1"\} 3/);
    assert.match(text, /process_resident_memory_bytes/);
  });

  it('answers /healthz while the process runs', async () => {
    assert.equal((await get('/healthz')).status, 200);
  });

  it('answers /readyz 200 when every check passes and 503 naming the one that fails', async () => {
    cacheUp = true;
    const ready = await get('/readyz');
    assert.equal(ready.status, 200);
    cacheUp = false;
    const notReady = await get('/readyz');
    assert.equal(notReady.status, 503);
    assert.deepEqual(await notReady.json(), { status: 'not ready', checks: { kafka: true, redis: false } });
  });
});
