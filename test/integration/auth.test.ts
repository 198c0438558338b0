import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Authenticator, type AuthRequest } from '../../ingest/auth/authenticator.js';
import { createCacheRedis, RedisDecisionCache } from '../../ingest/auth/decision-cache.js';
import { createDevicePool, DeviceStore } from '../../ingest/auth/device-store.js';
import { createDummyHash } from '../../ingest/auth/password.js';
import { migrateDeviceDb, parseMysqlUrl } from '../../lib/devicedb/migrations.js';
import { isSentinelError } from '../../lib/errors.js';
import { runCli, uniqueName } from '../helpers/platform.js';
import { keysWithPrefix } from '../helpers/redis-keys.js';

/**
 * Device auth against the machine's real MariaDB and Redis: a database and a key prefix of its own
 * per run, both removed afterwards. "Down" is a closed port on 127.0.0.1.
 */
const redisUrl = 'redis://127.0.0.1:6379';
const database = uniqueName('auth').replaceAll('-', '_');
const mysqlUrl = `mysql://root@127.0.0.1:3306/${database}`;
const prefix = `${uniqueName('auth')}:`;
const silent = pino({ level: 'silent' });
const cliEnv = {
  SENTINEL_MYSQL_URL: mysqlUrl,
  SENTINEL_REDIS_URL: redisUrl,
  SENTINEL_AUTH_CACHE_PREFIX: prefix,
};

const closers: Array<() => Promise<unknown> | unknown> = [];
let pool: mysql.Pool;
let store: DeviceStore;
let redis: Redis;
let cache: RedisDecisionCache;
let dummyHash: string;
let closedPort: number;

async function freeClosedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  return typeof address === 'object' && address ? address.port : 1;
}

function authenticatorWith(devices: DeviceStore, decisionCache: RedisDecisionCache | undefined) {
  const registry = new Registry();
  const authenticator = new Authenticator({
    devices,
    cache: decisionCache,
    registry,
    logger: silent,
    dummyHash,
  });
  const value = async (name: string, result?: string) => {
    const values = (await registry.getSingleMetric(name)?.get())?.values ?? [];
    return values.find((v) => result === undefined || v.labels.result === result)?.value ?? 0;
  };
  return { authenticator, value };
}

const keysUnderPrefix = () => keysWithPrefix(redis, prefix);

const runCliStdin = (args: readonly string[], input: string) => runCli(args, cliEnv, input);

before(async () => {
  await migrateDeviceDb(parseMysqlUrl(mysqlUrl));
  pool = createDevicePool(mysqlUrl, { timeoutMs: 2000 });
  store = new DeviceStore(pool);
  redis = createCacheRedis(redisUrl, { commandTimeoutMs: 1000 });
  if (redis.status !== 'ready') await once(redis, 'ready');
  cache = new RedisDecisionCache(redis, { prefix, ttlSeconds: 60, secret: randomBytes(32) });
  dummyHash = await createDummyHash();
  closedPort = await freeClosedPort();
});

after(async () => {
  for (const close of closers) await close();
  const keys = await keysUnderPrefix();
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await pool.query(`DROP DATABASE IF EXISTS \`${database}\``);
  await pool.end();
});

describe('device store (MariaDB)', () => {
  it('adds a device with ACLs, finds it for auth, and lists it without its secret', async () => {
    await store.add({
      clientId: 'store-1',
      username: 'fleet-a',
      password: 'store-1-secret-password',
      publish: ['devices/%c/telemetry'],
      subscribe: ['clients/%c/alerts', 'broadcast/#'],
    });
    const found = await store.findForAuth('store-1');
    assert.equal(found?.username, 'fleet-a');
    assert.match(found?.passwordHash ?? '', /^scrypt\$2048\$8\$1\$/);
    assert.deepEqual(found?.acls, {
      publish: ['devices/%c/telemetry'],
      subscribe: ['clients/%c/alerts', 'broadcast/#'],
    });
    assert.deepEqual(await store.loadAcls('store-1'), {
      publish: ['devices/%c/telemetry'],
      subscribe: ['clients/%c/alerts', 'broadcast/#'],
    });
    const listed = (await store.list()).find((d) => d.clientId === 'store-1');
    assert.equal(listed?.enabled, true);
    assert.doesNotMatch(JSON.stringify(listed), /scrypt|store-1-secret-password/);
    assert.equal(await store.findForAuth('nobody'), undefined);
  });

  const refusals: Array<[string, Parameters<DeviceStore['add']>[0], string]> = [
    [
      'an existing client id',
      { clientId: 'store-1', username: 'u', password: 'long-enough-secret' },
      'SNT_DEVICE_EXISTS',
    ],
    [
      'a client id with a control character',
      { clientId: 'a\u0007b', username: 'u', password: 'long-enough-secret' },
      'SNT_DEVICE_INVALID',
    ],
    ['a short password', { clientId: 'store-2', username: 'u', password: 'short' }, 'SNT_DEVICE_INVALID'],
    [
      'an invalid ACL filter',
      { clientId: 'store-2', username: 'u', password: 'long-enough-secret', publish: ['a/#/b'] },
      'SNT_DEVICE_INVALID',
    ],
  ];
  for (const [what, device, code] of refusals) {
    it(`refuses ${what} with ${code}`, async () => {
      await assert.rejects(store.add(device), (err) => isSentinelError(err) && err.code === code);
    });
  }

  it('disable and enable need an existing device and are idempotent', async () => {
    await assert.rejects(store.disable('nobody'), (err) => isSentinelError(err, 'SNT_DEVICE_UNKNOWN'));
    await store.disable('store-1', 'lost');
    await store.disable('store-1', 'lost');
    assert.equal((await store.findForAuth('store-1'))?.enabled, false);
    await store.enable('store-1');
    assert.equal((await store.findForAuth('store-1'))?.enabled, true);
  });
});

describe('authenticator against MariaDB and Redis', () => {
  const good: AuthRequest = { clientId: 'auth-1', username: 'fleet-a', password: 'auth-1-secret-password' };

  before(async () => {
    await store.add({
      clientId: 'auth-1',
      username: 'fleet-a',
      password: 'auth-1-secret-password',
      publish: ['devices/%c/telemetry'],
      subscribe: ['clients/%c/alerts'],
    });
    await store.add({ clientId: 'auth-2', username: 'fleet-a', password: 'auth-2-secret-password' });
  });

  it('allows the right credentials from the DB, then from the cache, with the ACLs', async () => {
    const { authenticator, value } = authenticatorWith(store, cache);
    const first = await authenticator.authenticate(good);
    assert.equal(first.result, 'allowed');
    const second = await authenticator.authenticate(good);
    assert.equal(second.result, 'cache_hit');
    assert.ok(second.allow);
    assert.deepEqual(second.acls, { publish: ['devices/%c/telemetry'], subscribe: ['clients/%c/alerts'] });
    assert.equal(await value('sentinel_auth_requests_total', 'allowed'), 1);
    assert.equal(await value('sentinel_auth_requests_total', 'cache_hit'), 1);
  });

  it('denies a wrong password and caches the denial too', async () => {
    const { authenticator } = authenticatorWith(store, cache);
    const bad = { ...good, password: 'not-the-password' };
    const first = await authenticator.authenticate(bad);
    assert.deepEqual([first.allow, first.result, first.connackCode], [false, 'denied', 5]);
    const second = await authenticator.authenticate(bad);
    assert.deepEqual([second.allow, second.result], [false, 'cache_hit']);
  });

  it('stores neither the password nor its hash in Redis, and every decision expires within the TTL', async () => {
    const keys = await keysUnderPrefix();
    assert.ok(keys.length > 0);
    const hash = (await store.findForAuth('auth-1'))!.passwordHash;
    for (const key of keys) {
      assert.doesNotMatch(key, /secret-password/);
      const value = (await redis.get(key)) ?? '';
      assert.ok(!value.includes('auth-1-secret-password') && !value.includes(hash), key);
      const ttl = await redis.ttl(key);
      assert.ok(ttl > 0 && ttl <= 86_400, `${key} ttl ${ttl}`);
      if (key.includes(':d:')) assert.ok(ttl <= 60, `${key} ttl ${ttl}`);
    }
  });

  it('refuses a disabled device at once, although an allow was cached', async () => {
    const { authenticator } = authenticatorWith(store, cache);
    const request = { clientId: 'auth-2', username: 'fleet-a', password: 'auth-2-secret-password' };
    assert.equal((await authenticator.authenticate(request)).allow, true);
    assert.equal((await authenticator.authenticate(request)).result, 'cache_hit');
    await store.disable('auth-2', 'stolen');
    await cache.invalidateDevice('auth-2');
    const after = await authenticator.authenticate(request);
    assert.deepEqual(
      [after.allow, after.result, !after.allow && after.reason],
      [false, 'denied', 'disabled'],
    );
    await store.enable('auth-2');
    await cache.invalidateDevice('auth-2');
    assert.equal((await authenticator.authenticate(request)).allow, true);
  });

  it('never stores a decision computed before an invalidation that raced with it', async () => {
    const credentials = { clientId: 'auth-1', username: 'fleet-a', password: 'race-password' };
    const seen = await cache.lookup(credentials);
    await cache.invalidateDevice('auth-1');
    await cache.store(credentials, seen.epoch, { allow: true, acls: { publish: [], subscribe: [] } });
    assert.equal((await cache.lookup(credentials)).decision, undefined);
  });

  it('with Redis unreachable, decides from the DB and reports the cache down', async () => {
    const downRedis = createCacheRedis(`redis://127.0.0.1:${closedPort}`, { commandTimeoutMs: 100 });
    closers.push(() => downRedis.disconnect());
    const downCache = new RedisDecisionCache(downRedis, { prefix, ttlSeconds: 60, secret: 'x'.repeat(32) });
    const { authenticator, value } = authenticatorWith(store, downCache);
    assert.equal((await authenticator.authenticate(good)).result, 'allowed');
    const bad = await authenticator.authenticate({ ...good, password: 'wrong-password' });
    assert.equal(bad.result, 'denied');
    assert.equal(await value('sentinel_auth_cache_up'), 0);
  });

  it('with the DB unreachable, honours cached decisions and refuses the rest (fail closed)', async () => {
    const downPool = createDevicePool(`mysql://root@127.0.0.1:${closedPort}/nothing`, { timeoutMs: 500 });
    closers.push(() => downPool.end());
    await authenticatorWith(store, cache).authenticator.authenticate(good);
    const { authenticator, value } = authenticatorWith(new DeviceStore(downPool), cache);
    const cached = await authenticator.authenticate(good);
    assert.deepEqual([cached.allow, cached.result], [true, 'cache_hit']);
    const uncached = await authenticator.authenticate({
      clientId: 'auth-2',
      username: 'fleet-a',
      password: 'auth-2-other-password',
    });
    assert.deepEqual(
      [uncached.allow, uncached.result, uncached.connackCode, !uncached.allow && uncached.reason],
      [false, 'error', 3, 'device_db_unavailable'],
    );
    assert.equal(await value('sentinel_auth_requests_total', 'error'), 1);
    assert.equal(await value('sentinel_auth_device_db_up'), 0);
  });

  it('with the DB and Redis both unreachable, refuses', async () => {
    const downPool = createDevicePool(`mysql://root@127.0.0.1:${closedPort}/nothing`, { timeoutMs: 500 });
    const downRedis = createCacheRedis(`redis://127.0.0.1:${closedPort}`, { commandTimeoutMs: 100 });
    closers.push(
      () => downPool.end(),
      () => downRedis.disconnect(),
    );
    const { authenticator } = authenticatorWith(
      new DeviceStore(downPool),
      new RedisDecisionCache(downRedis, { prefix, ttlSeconds: 60, secret: 'x'.repeat(32) }),
    );
    const decision = await authenticator.authenticate(good);
    assert.deepEqual([decision.allow, decision.result], [false, 'error']);
  });
});

describe('sentinel devices (CLI)', () => {
  const secret = 'cli-device-secret-0001';

  it('adds a device, lists it, and never prints the password', async () => {
    const added = await runCli(
      [
        'devices',
        'add',
        'cli-1',
        '--username',
        'fleet-c',
        '--password',
        secret,
        '--publish',
        'devices/%c/telemetry',
        '--subscribe',
        'clients/%c/alerts',
        '--subscribe',
        'broadcast/+',
      ],
      cliEnv,
    );
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /added device cli-1 \(user fleet-c\): 1 publish, 2 subscribe/);

    const listed = await runCli(['devices', 'list', '--json'], cliEnv);
    assert.equal(listed.code, 0, listed.stderr);
    const device = (JSON.parse(listed.stdout) as Array<Record<string, unknown>>).find(
      (d) => d.clientId === 'cli-1',
    );
    assert.deepEqual(
      [device?.username, device?.enabled, device?.publish, device?.subscribe],
      ['fleet-c', true, ['devices/%c/telemetry'], ['clients/%c/alerts', 'broadcast/+']],
    );
    const table = await runCli(['devices', 'list'], cliEnv);
    assert.match(table.stdout, /cli-1\s+fleet-c\s+enabled/);
    for (const output of [added, listed, table]) {
      assert.ok(!output.stdout.includes(secret) && !output.stderr.includes(secret));
      assert.doesNotMatch(output.stdout, /scrypt\$/);
    }
  });

  it('reads the password from stdin', async () => {
    const added = await runCliStdin(
      ['devices', 'add', 'cli-2', '--username', 'fleet-c', '--password-stdin'],
      `${secret}\n`,
    );
    assert.equal(added.code, 0, added.stderr);
    const { authenticator } = authenticatorWith(store, cache);
    const decision = await authenticator.authenticate({
      clientId: 'cli-2',
      username: 'fleet-c',
      password: secret,
    });
    assert.equal(decision.allow, true);
  });

  it('disable takes effect on the next CONNECT even with an allow cached, and enable undoes it', async () => {
    const { authenticator } = authenticatorWith(store, cache);
    const request = { clientId: 'cli-1', username: 'fleet-c', password: secret };
    assert.equal((await authenticator.authenticate(request)).allow, true);
    assert.equal((await authenticator.authenticate(request)).result, 'cache_hit');

    const disabled = await runCli(['devices', 'disable', 'cli-1', '--reason', 'decommissioned'], cliEnv);
    assert.equal(disabled.code, 0, disabled.stderr);
    const listed = await runCli(['devices', 'list', '--json'], cliEnv);
    const device = (JSON.parse(listed.stdout) as Array<Record<string, unknown>>).find(
      (d) => d.clientId === 'cli-1',
    );
    assert.deepEqual([device?.enabled, device?.disabledReason], [false, 'decommissioned']);
    const refused = await authenticator.authenticate(request);
    assert.deepEqual([refused.allow, !refused.allow && refused.reason], [false, 'disabled']);

    const enabled = await runCli(['devices', 'enable', 'cli-1'], cliEnv);
    assert.equal(enabled.code, 0, enabled.stderr);
    assert.equal((await authenticator.authenticate(request)).allow, true);
  });

  it('refuses usage errors with a code: both or neither password source, an unknown device', async () => {
    const neither = await runCli(['devices', 'add', 'cli-3', '--username', 'u'], cliEnv);
    assert.equal(neither.code, 1);
    assert.match(neither.stderr, /SNT_USAGE/);
    const unknown = await runCli(['devices', 'disable', 'nobody'], cliEnv);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /SNT_DEVICE_UNKNOWN/);
  });

  it('reports, and exits 1, when a disable could not invalidate the cache', async () => {
    const result = await runCli(['devices', 'disable', 'cli-2'], {
      ...cliEnv,
      SENTINEL_REDIS_URL: `redis://127.0.0.1:${closedPort}`,
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /disabled in the device DB, but its cached decisions were not invalidated/);
  });

  it('has --help for each subcommand', async () => {
    for (const sub of ['add', 'list', 'disable', 'enable']) {
      const help = await runCli(['devices', sub, '--help']);
      assert.equal(help.code, 0, sub);
      assert.match(help.stdout, /SENTINEL_MYSQL_URL/);
    }
  });
});
