/**
 * CONNECT auth latency against the machine's real Redis and MariaDB, one decision at a time, as one
 * proxy sees it: cache hit (Redis MGET only) and cache miss (MGET, one device-row-with-ACLs query,
 * scrypt, compare-and-set store). A miss is forced by invalidating the device before each timed call (not
 * timed). Creates its own database and key prefix and removes both.
 * Run: npx tsc -p tsconfig.json && node dist/bench/auth.bench.js [--hits 5000] [--misses 1000]
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { type AuthRequest, createAuthenticator } from '../ingest/auth/authenticator.js';
import { createCacheRedis, RedisDecisionCache } from '../ingest/auth/decision-cache.js';
import { createDevicePool, DeviceStore } from '../ingest/auth/device-store.js';
import { defaultScryptParams } from '../ingest/auth/password.js';
import { migrateDeviceDb, parseMysqlUrl } from '../lib/devicedb/migrations.js';
import { deleteKeysWithPrefix } from '../test/helpers/redis-keys.js';
import { writeJsonResult } from './lib/output.js';

const { values } = parseArgs({
  options: {
    hits: { type: 'string', default: '5000' },
    misses: { type: 'string', default: '1000' },
    devices: { type: 'string', default: '100' },
    json: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const hits = Number(values.quick ? 1000 : values.hits);
const misses = Number(values.quick ? 200 : values.misses);
const deviceCount = Number(values.devices);

const suffix = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const mysqlUrl = `mysql://root@127.0.0.1:3306/bench_auth_${suffix}`;
const prefix = `bench-auth-${suffix}:`;

interface Figures {
  readonly case: string;
  readonly n: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

function figures(name: string, samples: number[]): Figures {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  const round = (ms: number) => Math.round(ms * 1000) / 1000;
  return { case: name, n: sorted.length, p50Ms: round(at(0.5)), p99Ms: round(at(0.99)), maxMs: round(at(1)) };
}

await migrateDeviceDb(parseMysqlUrl(mysqlUrl));
const pool = createDevicePool(mysqlUrl, { timeoutMs: 2000 });
const redis = createCacheRedis('redis://127.0.0.1:6379', { commandTimeoutMs: 1000 });
await new Promise<void>((resolve, reject) => {
  redis.once('ready', () => resolve());
  redis.once('end', () => reject(new Error('Redis at 127.0.0.1:6379 does not answer')));
});
const store = new DeviceStore(pool);
const cache = new RedisDecisionCache(redis, { prefix, ttlSeconds: 60, secret: randomBytes(32) });
const authenticator = await createAuthenticator({
  devices: store,
  cache,
  registry: new Registry(),
  logger: pino({ level: 'silent' }),
});

try {
  const requests: AuthRequest[] = [];
  for (let i = 0; i < deviceCount; i++) {
    const clientId = `bench-${i.toString().padStart(5, '0')}`;
    const password = `secret-${clientId}-${randomBytes(8).toString('hex')}`;
    await store.add({
      clientId,
      username: 'bench-fleet',
      password,
      publish: ['devices/%c/telemetry', 'devices/%c/events/+'],
      subscribe: ['clients/%c/alerts'],
    });
    requests.push({ clientId, username: 'bench-fleet', password: Buffer.from(password) });
  }

  async function measure(
    name: string,
    count: number,
    expectResult: string,
    prepare: (i: number) => Promise<AuthRequest>,
  ): Promise<Figures> {
    const samples: number[] = [];
    for (let i = 0; i < count + 50; i++) {
      const request = await prepare(i);
      const started = process.hrtime.bigint();
      const decision = await authenticator.authenticate(request);
      const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
      if (decision.result !== expectResult) throw new Error(`${name}: got ${decision.result}`);
      if (i >= 50) samples.push(elapsed);
    }
    return figures(name, samples);
  }

  const pick = (i: number) => requests[i % requests.length]!;
  const results = [
    await measure('cache hit (allow)', hits, 'cache_hit', async (i) => {
      const request = pick(i);
      if (i < requests.length) await authenticator.authenticate(request);
      return request;
    }),
    await measure('cache miss, allow', misses, 'allowed', async (i) => {
      const request = pick(i);
      await cache.invalidateDevice(request.clientId);
      return request;
    }),
    await measure('cache miss, wrong password', misses, 'denied', async (i) => {
      const request = pick(i);
      await cache.invalidateDevice(request.clientId);
      return { ...request, password: `wrong-${i}` };
    }),
    await measure('cache miss, unknown device (dummy hash)', misses, 'denied', async (i) => ({
      clientId: `absent-${i}`,
      username: 'bench-fleet',
      password: `wrong-${i}`,
    })),
  ];

  const { log2N, r, p } = defaultScryptParams;
  console.log(
    `auth latency, one decision at a time; scrypt N=2^${log2N} r=${r} p=${p}; ${deviceCount} devices`,
  );
  console.log('case                                         n      p50 ms   p99 ms   max ms');
  for (const f of results) {
    console.log(
      `${f.case.padEnd(42)} ${String(f.n).padStart(6)} ${f.p50Ms.toFixed(3).padStart(8)} ${f.p99Ms.toFixed(3).padStart(8)} ${f.maxMs.toFixed(3).padStart(8)}`,
    );
  }
  console.log(JSON.stringify({ bench: 'auth', scrypt: defaultScryptParams, results }));
  writeJsonResult(values.json, { bench: 'auth', scrypt: defaultScryptParams, devices: deviceCount, results });
} finally {
  await deleteKeysWithPrefix(redis, prefix);
  redis.disconnect();
  await pool.query(`DROP DATABASE IF EXISTS \`${parseMysqlUrl(mysqlUrl).database}\``);
  await pool.end();
}
