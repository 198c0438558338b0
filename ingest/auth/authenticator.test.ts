import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { DeviceAcls } from './acl.js';
import {
  Authenticator,
  type AuthenticatorDeps,
  type AuthRequest,
  certificateIdentityMatches,
  type IdentityMode,
} from './authenticator.js';
import type { DeviceCredentials } from './device-store.js';
import { AddressFailureThrottle } from './failure-throttle.js';
import { KdfQueue } from './kdf-queue.js';
import { LocalDecisionCache } from './local-cache.js';
import { MemoryDecisionCache } from './memory-decision-cache.js';
import { MemoryDeviceStore } from './memory-device-store.js';
import { createDummyHash, hashPassword } from './password.js';

const cheap = { log2N: 10, r: 1, p: 1 };
const silent = pino({ level: 'silent' });
const acls: DeviceAcls = { publish: ['devices/%c/up'], subscribe: ['clients/%c/alerts'] };

let dummyHash: string;
let rows: DeviceCredentials[];

before(async () => {
  dummyHash = await createDummyHash(cheap);
  const hash = await hashPassword('right-password-1', cheap);
  rows = [
    { clientId: 'dev-1', username: 'fleet', passwordHash: hash, enabled: true, acls },
    { clientId: 'dev-off', username: 'fleet', passwordHash: hash, enabled: false, acls },
    { clientId: 'dev-bad-hash', username: 'fleet', passwordHash: 'md5$x', enabled: true, acls },
  ];
});

/** The device DB and Redis as their contract-tested doubles (test/contract/), seeded with `rows`. */
function doubles(withCache = true) {
  const devices = new MemoryDeviceStore();
  for (const row of rows) devices.seed(row);
  const cache = withCache ? new MemoryDecisionCache({ ttlSeconds: 60 }) : undefined;
  return { devices, cache };
}

function setup(
  identity: IdentityMode = 'password',
  withCache = true,
  extra: Partial<Pick<AuthenticatorDeps, 'local' | 'kdf' | 'throttle'>> = {},
  registry = new Registry(),
) {
  const { devices, cache } = doubles(withCache);
  const authenticator = new Authenticator({
    devices,
    cache,
    registry,
    logger: silent,
    dummyHash,
    identity,
    ...extra,
  });
  const count = async (result: string) => {
    const metric = (await registry.getSingleMetric('sentinel_auth_requests_total')?.get())?.values ?? [];
    return metric.find((v) => v.labels.result === result)?.value ?? 0;
  };
  const gauge = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values[0]?.value;
  const metric = async (name: string, labels: Record<string, string> = {}) =>
    (await registry.getSingleMetric(name)?.get())?.values.find((v) =>
      Object.entries(labels).every(([k, value]) => v.labels[k] === value),
    )?.value ?? 0;
  return { devices, cache, authenticator, count, gauge, metric, registry };
}

/** A fake monotonic clock and an in-process cache on it, TTL 10 s. */
function localCache(registry = new Registry()) {
  const clock = { now: 0 };
  const local = new LocalDecisionCache({
    ttlMs: 10_000,
    maxAllowedDevices: 100,
    maxDeniedDevices: 100,
    now: () => clock.now,
    registry,
  });
  return { clock, local };
}

/** A promise the test opens by hand: work held "in flight" without timers. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/** Holds one slot of the KDF queue with work the test ends by hand (`free`), no timers. */
function occupy(kdf: KdfQueue): { free(): Promise<void> } {
  const busy = gate();
  const running = kdf.run(() => busy.opened);
  return {
    async free() {
      busy.open();
      await running;
    },
  };
}

/**
 * Holds every device DB answer until the gate opens (the row is read at once, as the DB would when
 * the query arrives), so concurrent CONNECTs pile up on it.
 */
function holdReads(devices: MemoryDeviceStore) {
  const held = gate();
  const firstRead = gate();
  const read = devices.findForAuth.bind(devices);
  devices.findForAuth = async (clientId) => {
    const row = await read(clientId);
    firstRead.open();
    await held.opened;
    return row;
  };
  return { open: held.open, read: firstRead.opened };
}

describe('Authenticator: decisions from the device DB (password identity)', () => {
  const cases: Array<[string, AuthRequest, { allow: boolean; reason?: string; connackCode: number }]> = [
    [
      'right client id, user and password',
      { clientId: 'dev-1', username: 'fleet', password: 'right-password-1' },
      { allow: true, connackCode: 0 },
    ],
    [
      'password as the Buffer mqtt-packet decodes',
      { clientId: 'dev-1', username: 'fleet', password: Buffer.from('right-password-1') },
      { allow: true, connackCode: 0 },
    ],
    [
      'wrong password',
      { clientId: 'dev-1', username: 'fleet', password: 'wrong-password' },
      { allow: false, reason: 'bad_credentials', connackCode: 5 },
    ],
    [
      'wrong user name',
      { clientId: 'dev-1', username: 'other', password: 'right-password-1' },
      { allow: false, reason: 'bad_credentials', connackCode: 5 },
    ],
    [
      'unknown device',
      { clientId: 'nobody', username: 'fleet', password: 'right-password-1' },
      { allow: false, reason: 'unknown_device', connackCode: 5 },
    ],
    [
      'disabled device with its right password',
      { clientId: 'dev-off', username: 'fleet', password: 'right-password-1' },
      { allow: false, reason: 'disabled', connackCode: 5 },
    ],
    [
      'disabled device with a wrong password (does not reveal the state)',
      { clientId: 'dev-off', username: 'fleet', password: 'nope' },
      { allow: false, reason: 'bad_credentials', connackCode: 5 },
    ],
    [
      'no user name or password',
      { clientId: 'dev-1' },
      { allow: false, reason: 'no_credentials', connackCode: 5 },
    ],
    [
      'stored hash unusable (fails closed)',
      { clientId: 'dev-bad-hash', username: 'fleet', password: 'right-password-1' },
      { allow: false, reason: 'hash_invalid', connackCode: 5 },
    ],
  ];
  for (const [name, request, expected] of cases) {
    it(`${name} -> ${expected.allow ? 'allow' : `deny (${expected.reason})`}`, async () => {
      const { authenticator } = setup();
      const decision = await authenticator.authenticate(request);
      assert.equal(decision.allow, expected.allow);
      assert.equal(decision.connackCode, expected.connackCode);
      if (!decision.allow) assert.equal(decision.reason, expected.reason);
      else assert.deepEqual(decision.acls, acls);
    });
  }
});

describe('Authenticator: cache and failure policy', () => {
  const good = { clientId: 'dev-1', username: 'fleet', password: 'right-password-1' };

  it('answers a repeated CONNECT from the cache without the DB, allow and deny alike', async () => {
    const { authenticator, devices, count } = setup();
    const bad = { ...good, password: 'wrong' };
    assert.equal((await authenticator.authenticate(good)).result, 'allowed');
    assert.equal((await authenticator.authenticate(bad)).result, 'denied');
    const lookups = devices.lookups;
    const again = await authenticator.authenticate(good);
    const badAgain = await authenticator.authenticate(bad);
    assert.equal(devices.lookups, lookups);
    assert.deepEqual([again.result, again.allow], ['cache_hit', true]);
    assert.deepEqual([badAgain.result, badAgain.allow], ['cache_hit', false]);
    assert.equal(await count('cache_hit'), 2);
    assert.equal(await count('allowed'), 1);
    assert.equal(await count('denied'), 1);
  });

  it('falls through to the DB when the cache fails, and says so in sentinel_auth_cache_up', async () => {
    const { authenticator, cache, gauge } = setup();
    cache!.down = true;
    assert.equal((await authenticator.authenticate(good)).result, 'allowed');
    assert.equal(await gauge('sentinel_auth_cache_up'), 0);
    cache!.down = false;
    assert.equal((await authenticator.authenticate(good)).result, 'allowed');
    assert.equal(await gauge('sentinel_auth_cache_up'), 1);
  });

  it('with the DB down, honours a cached decision and refuses anything else with result error', async () => {
    const { authenticator, devices, count, gauge } = setup();
    await authenticator.authenticate(good);
    devices.down = true;
    assert.equal((await authenticator.authenticate(good)).result, 'cache_hit');
    const uncached = await authenticator.authenticate({ ...good, password: 'other-password' });
    assert.deepEqual(uncached, {
      allow: false,
      result: 'error',
      reason: 'device_db_unavailable',
      connackCode: 3,
    });
    assert.equal(await count('error'), 1);
    assert.equal(await gauge('sentinel_auth_device_db_up'), 0);
  });

  it('with the DB and the cache down, refuses (fail closed)', async () => {
    const { authenticator, devices, cache } = setup();
    devices.down = true;
    cache!.down = true;
    const decision = await authenticator.authenticate(good);
    assert.equal(decision.allow, false);
    assert.equal(decision.result, 'error');
  });

  it('without a cache, every CONNECT asks the DB', async () => {
    const { authenticator, devices } = setup('password', false);
    await authenticator.authenticate(good);
    await authenticator.authenticate(good);
    assert.equal(devices.lookups, 2);
  });

  it('records the decision time in sentinel_auth_duration_seconds', async () => {
    const { authenticator, registry } = setup('password', false);
    await authenticator.authenticate(good);
    const text = await registry.metrics();
    assert.match(text, /sentinel_auth_duration_seconds_count\{result="allowed"\} 1/);
    assert.match(text, /sentinel_auth_duration_seconds_bucket\{le="0.0005",result="allowed"\}/);
  });
});

describe('certificate identity', () => {
  const cases: Array<[string, string | undefined, boolean]> = [
    ['dev-1', 'dev-1', true],
    ['dev-1', 'dev-2', false],
    ['dev-1', 'DEV-1', false],
    ['dev-1', undefined, false],
    ['', '', false],
  ];
  for (const [clientId, cn, matches] of cases) {
    it(`client id "${clientId}", certificate CN ${cn === undefined ? '(none)' : `"${cn}"`} -> ${matches}`, () => {
      assert.equal(certificateIdentityMatches(clientId, cn), matches);
    });
  }

  it('admits an enabled device whose client id is the CN, without a password', async () => {
    const { authenticator } = setup('certificate');
    const decision = await authenticator.authenticate({ clientId: 'dev-1', certificateCn: 'dev-1' });
    assert.equal(decision.allow, true);
  });

  it('refuses a CN that names another device, and a disabled device', async () => {
    const { authenticator } = setup('certificate');
    const other = await authenticator.authenticate({ clientId: 'dev-1', certificateCn: 'dev-off' });
    assert.deepEqual([other.allow, !other.allow && other.reason], [false, 'identity_mismatch']);
    const off = await authenticator.authenticate({ clientId: 'dev-off', certificateCn: 'dev-off' });
    assert.deepEqual([off.allow, !off.allow && off.reason], [false, 'disabled']);
  });
});

describe('a cache outage is not a stampede: the in-process cache', () => {
  const good = { clientId: 'dev-1', username: 'fleet', password: 'right-password-1' };

  it('keeps answering from memory, without the DB, while Redis is down', async () => {
    const registry = new Registry();
    const { clock, local } = localCache(registry);
    const { authenticator, devices, cache, metric } = setup('password', true, { local }, registry);
    assert.equal((await authenticator.authenticate(good)).result, 'allowed');
    cache!.down = true;
    const lookups = devices.lookups;
    clock.now += 9_999;
    for (let i = 0; i < 5; i++) {
      const decision = await authenticator.authenticate(good);
      assert.deepEqual([decision.allow, decision.result], [true, 'cache_hit']);
    }
    assert.equal(devices.lookups, lookups);
    assert.equal(await metric('sentinel_auth_local_cache_hits_total'), 5);
  });

  it('past its TTL asks again: one DB lookup per device and TTL while Redis is down, not one per CONNECT', async () => {
    const { clock, local } = localCache();
    const { authenticator, devices, cache } = setup('password', true, { local });
    cache!.down = true;
    await authenticator.authenticate(good);
    clock.now += 10_000;
    await authenticator.authenticate(good);
    await authenticator.authenticate(good);
    assert.equal(devices.lookups, 2);
  });

  it('a revoked device is refused on its next CONNECT once the invalidation is heard', async () => {
    const { local } = localCache();
    const { authenticator, devices, cache } = setup('password', true, { local });
    cache!.watch({
      device: (clientId) => authenticator.invalidateDevice(clientId),
      all: () => authenticator.invalidateAll(),
    });
    assert.equal((await authenticator.authenticate(good)).allow, true);
    assert.equal((await authenticator.authenticate(good)).result, 'cache_hit');
    await devices.disable('dev-1', 'stolen');
    await cache!.invalidateDevice('dev-1');
    await Promise.resolve(); // Pub/Sub delivers after the publisher's reply
    const after = await authenticator.authenticate(good);
    assert.deepEqual(
      [after.allow, after.result, !after.allow && after.reason],
      [false, 'denied', 'disabled'],
    );
  });

  it('a lost invalidation admits a revoked device for at most the in-process TTL', async () => {
    const { clock, local } = localCache();
    const { authenticator, devices, cache } = setup('password', true, { local });
    await authenticator.authenticate(good);
    await devices.disable('dev-1');
    await cache!.invalidateDevice('dev-1'); // nobody watches the feed: the message is lost
    clock.now += 9_999;
    assert.equal((await authenticator.authenticate(good)).allow, true, 'within the documented bound');
    clock.now += 1;
    assert.equal((await authenticator.authenticate(good)).allow, false);
  });

  it('a copy never outlives the Redis entry it came from', async () => {
    const { clock, local } = localCache();
    const wall = { now: 1_000_000 };
    const cache = new MemoryDecisionCache({ ttlSeconds: 60, now: () => wall.now });
    const { devices } = doubles(false);
    const first = new Authenticator({ devices, cache, registry: new Registry(), logger: silent, dummyHash });
    await first.authenticate(good);
    wall.now += 55_000; // 5 s left in Redis
    const second = new Authenticator({
      devices,
      cache,
      local,
      registry: new Registry(),
      logger: silent,
      dummyHash,
    });
    assert.equal((await second.authenticate(good)).result, 'cache_hit');
    cache.down = true;
    clock.now += 4_999;
    assert.equal((await second.authenticate(good)).result, 'cache_hit');
    clock.now += 1;
    assert.equal((await second.authenticate(good)).result, 'allowed', 'from the DB again');
  });

  it('does not keep a decision computed while the device was being revoked', async () => {
    const { local } = localCache();
    const { authenticator, devices, cache } = setup('password', true, { local });
    const held = holdReads(devices);
    const pending = authenticator.authenticate(good);
    await held.read;
    await devices.disable('dev-1');
    authenticator.invalidateDevice('dev-1');
    held.open();
    assert.equal((await pending).allow, true, 'it read the row before the change');
    cache!.down = true;
    const next = await authenticator.authenticate(good);
    assert.deepEqual([next.allow, next.result], [false, 'denied'], 'not served from memory');
  });

  it('the feed being cut drops everything kept in memory', async () => {
    const { local } = localCache();
    const { authenticator, devices, cache } = setup('password', true, { local });
    cache!.watch({
      device: (clientId) => authenticator.invalidateDevice(clientId),
      all: () => authenticator.invalidateAll(),
    });
    await authenticator.authenticate(good);
    cache!.down = true;
    cache!.cutFeed();
    const lookups = devices.lookups;
    assert.equal((await authenticator.authenticate(good)).result, 'allowed');
    assert.equal(devices.lookups, lookups + 1);
  });
});

describe('a cache outage is not a stampede: concurrent misses coalesce', () => {
  const good = { clientId: 'dev-1', username: 'fleet', password: 'right-password-1' };

  it('ten concurrent CONNECTs with the same credentials make one DB lookup and one scrypt', async () => {
    const registry = new Registry();
    const kdf = new KdfQueue({ concurrency: 4, maxQueued: 100, registry });
    const { authenticator, devices, cache, metric } = setup('password', true, { kdf }, registry);
    cache!.down = true;
    const held = holdReads(devices);
    const verifications = countRuns(kdf);
    const pending = Array.from({ length: 10 }, () => authenticator.authenticate(good));
    held.open();
    const decisions = await Promise.all(pending);
    assert.ok(decisions.every((d) => d.allow));
    assert.equal(devices.lookups, 1);
    assert.equal(verifications(), 1);
    assert.equal(await metric('sentinel_auth_coalesced_total', { stage: 'decision' }), 9);
  });

  it('different credentials for one device share the row but each pays its own scrypt', async () => {
    const registry = new Registry();
    const kdf = new KdfQueue({ concurrency: 4, maxQueued: 100, registry });
    const { authenticator, devices, cache, metric } = setup('password', false, { kdf }, registry);
    assert.equal(cache, undefined);
    const held = holdReads(devices);
    const verifications = countRuns(kdf);
    const pending = [good, { ...good, password: 'guess-1' }, { ...good, password: 'guess-2' }].map((r) =>
      authenticator.authenticate(r),
    );
    held.open();
    const decisions = await Promise.all(pending);
    assert.deepEqual(
      decisions.map((d) => d.allow),
      [true, false, false],
    );
    assert.equal(devices.lookups, 1);
    assert.equal(verifications(), 3);
    assert.equal(await metric('sentinel_auth_coalesced_total', { stage: 'device_db' }), 2);
  });

  it('a CONNECT arriving after a revocation does not join a lookup begun before it', async () => {
    const { authenticator, devices } = setup('password', false);
    const held = holdReads(devices);
    const early = authenticator.authenticate(good);
    await held.read;
    await devices.disable('dev-1');
    authenticator.invalidateDevice('dev-1');
    const late = authenticator.authenticate(good);
    held.open();
    assert.equal((await early).allow, true);
    assert.equal((await late).allow, false);
    assert.equal(devices.lookups, 2);
  });
});

/** Counts the verifications that reach the KDF queue. */
function countRuns(kdf: KdfQueue): () => number {
  let runs = 0;
  const run = kdf.run.bind(kdf);
  kdf.run = (work, withinMs) => {
    runs++;
    return run(work, withinMs);
  };
  return () => runs;
}

describe('a flood of failing devices does not slow cached devices', () => {
  const good = { clientId: 'dev-1', username: 'fleet', password: 'right-password-1' };

  it('a cached decision is answered while the KDF queue is full; an uncached one is refused with 0x03', async () => {
    const registry = new Registry();
    const kdf = new KdfQueue({ concurrency: 1, maxQueued: 0, registry });
    const { local } = localCache(registry);
    const { authenticator, devices, metric } = setup('password', true, { kdf, local }, registry);
    await authenticator.authenticate(good);
    const slot = occupy(kdf);
    const lookups = devices.lookups;

    const cached = await authenticator.authenticate(good);
    assert.deepEqual([cached.allow, cached.result], [true, 'cache_hit']);
    const uncached = await authenticator.authenticate({ ...good, password: 'another-password' });
    assert.deepEqual(uncached, { allow: false, result: 'error', reason: 'kdf_busy', connackCode: 3 });
    assert.equal(devices.lookups, lookups, 'refused before the device DB was asked');
    assert.equal(await metric('sentinel_auth_denials_total', { reason: 'kdf_busy' }), 1);
    await slot.free();
  });

  it('refuses with 0x03 when the queue fills while the row is being read', async () => {
    const registry = new Registry();
    const kdf = new KdfQueue({ concurrency: 1, maxQueued: 0, registry });
    const { authenticator, devices, metric } = setup('password', false, { kdf }, registry);
    const held = holdReads(devices);
    const pending = authenticator.authenticate(good);
    const slot = occupy(kdf);
    held.open();
    const decision = await pending;
    assert.deepEqual(
      [decision.allow, decision.connackCode, !decision.allow && decision.reason],
      [false, 3, 'kdf_busy'],
    );
    assert.equal(await metric('sentinel_auth_kdf_refused_total', { reason: 'full' }), 1);
    await slot.free();
  });

  it('a CONNECT whose device cannot wait for the KDF is refused with 0x03 before the device DB (late)', async () => {
    const registry = new Registry();
    const kdf = new KdfQueue({ concurrency: 1, maxQueued: 100, registry });
    const { authenticator, devices, metric } = setup('password', false, { kdf }, registry);
    for (let i = 0; i < 4; i++) assert.equal((await authenticator.authenticate(good)).allow, true);
    assert.ok(kdf.typicalMs > 0, 'four real scrypt checks: the queue knows their cost');
    const slot = occupy(kdf);
    const lookups = devices.lookups;
    // A slot is busy and the next would start after it: two typical durations, far more than 0.01 ms.
    const decision = await authenticator.authenticate({ ...good, answerWithinMs: 0.01 });
    assert.deepEqual(decision, { allow: false, result: 'error', reason: 'kdf_busy', connackCode: 3 });
    assert.equal(devices.lookups, lookups, 'refused before the device DB was asked');
    assert.equal(await metric('sentinel_auth_kdf_refused_total', { reason: 'late' }), 1);
    await slot.free();
  });

  it('a CONNECT still waiting for the KDF when its device stops waiting is refused with 0x03, its scrypt not run (expired)', async () => {
    const registry = new Registry();
    const kdf = new KdfQueue({ concurrency: 1, maxQueued: 100, registry, expiryCheckMs: 5 });
    const { authenticator, metric } = setup('password', false, { kdf }, registry);
    const slot = occupy(kdf);
    const verifications = countRuns(kdf);
    // Nothing measured yet, so nothing is predicted: it queues, and 20 ms later it is refused (a
    // verification that ran would have allowed it).
    const decision = await authenticator.authenticate({ ...good, answerWithinMs: 20 });
    assert.deepEqual(decision, { allow: false, result: 'error', reason: 'kdf_busy', connackCode: 3 });
    assert.equal(verifications(), 1, 'it reached the queue');
    assert.equal(await metric('sentinel_auth_kdf_refused_total', { reason: 'expired' }), 1);
    await slot.free();
  });

  it('an address with repeated failures is refused before the DB and scrypt; its cached devices still connect', async () => {
    const { local } = localCache();
    const throttle = new AddressFailureThrottle({ burst: 2, perMinute: 6, maxAddresses: 10, now: () => 0 });
    const { authenticator, devices } = setup('password', false, { local, throttle });
    const from = (sourceAddress: string, password: string) =>
      authenticator.authenticate({ ...good, password, sourceAddress });
    assert.equal((await from('198.51.100.7', 'right-password-1')).allow, true, 'now cached');
    assert.equal((await from('198.51.100.7', 'guess-1')).allow, false);
    assert.equal((await from('198.51.100.7', 'guess-2')).allow, false);
    const lookups = devices.lookups;
    const throttled = await from('198.51.100.7', 'guess-3');
    assert.deepEqual(throttled, {
      allow: false,
      result: 'error',
      reason: 'address_throttled',
      connackCode: 3,
    });
    assert.equal(devices.lookups, lookups, 'no DB lookup, no scrypt');
    assert.equal((await from('198.51.100.7', 'right-password-1')).result, 'cache_hit');
    const other = await from('203.0.113.9', 'guess-3');
    assert.deepEqual(
      [other.allow, !other.allow && other.reason],
      [false, 'bad_credentials'],
      'another address is not',
    );
  });

  it('successes do not count against an address (a NAT full of good devices)', async () => {
    const throttle = new AddressFailureThrottle({ burst: 1, perMinute: 6, maxAddresses: 10, now: () => 0 });
    const { authenticator } = setup('password', false, { throttle });
    for (let i = 0; i < 5; i++) {
      const decision = await authenticator.authenticate({ ...good, sourceAddress: '198.51.100.7' });
      assert.equal(decision.allow, true);
    }
  });
});

describe('an expired decision is revalidated from the device row, without scrypt while the row is unchanged', () => {
  const good = { clientId: 'dev-1', username: 'fleet', password: 'right-password-1' };
  const ttlMs = 60_000;

  /** Redis's double on a wall clock the test drives: TTL 60 s, kept 1 h past it for revalidation. */
  function expiring(kdfConcurrency = 2) {
    const wall = { now: 1_000_000 };
    const registry = new Registry();
    const cache = new MemoryDecisionCache({ ttlSeconds: 60, revalidateSeconds: 3600, now: () => wall.now });
    const { devices } = doubles(false);
    const kdf = new KdfQueue({ concurrency: kdfConcurrency, maxQueued: 0, registry });
    const verifications = countRuns(kdf);
    const authenticator = new Authenticator({ devices, cache, kdf, registry, logger: silent, dummyHash });
    const revalidated = async () =>
      (await registry.getSingleMetric('sentinel_auth_revalidated_total')?.get())?.values[0]?.value ?? 0;
    return { wall, cache, devices, kdf, verifications, authenticator, revalidated };
  }

  it('an allow past its TTL costs one row read, no password check, and is cached afresh', async () => {
    const { wall, devices, verifications, authenticator, revalidated } = expiring();
    assert.equal((await authenticator.authenticate(good)).result, 'allowed');
    assert.equal(verifications(), 1);
    wall.now += ttlMs;
    const lookups = devices.lookups;
    const renewed = await authenticator.authenticate(good);
    assert.deepEqual([renewed.allow, renewed.result], [true, 'allowed']);
    assert.equal(devices.lookups, lookups + 1);
    assert.equal(verifications(), 1, 'no scrypt');
    assert.equal(await revalidated(), 1);
    assert.equal((await authenticator.authenticate(good)).result, 'cache_hit');
  });

  it('takes enabled and ACLs from the row: a device disabled directly in the DB is refused, then admitted again', async () => {
    const { wall, devices, verifications, authenticator } = expiring();
    await authenticator.authenticate(good);
    await devices.disable('dev-1'); // no invalidation: only the TTL bounds it
    wall.now += ttlMs;
    const refused = await authenticator.authenticate(good);
    assert.deepEqual([refused.allow, !refused.allow && refused.reason], [false, 'disabled']);
    await devices.enable('dev-1');
    wall.now += ttlMs;
    const narrowed = { publish: ['devices/%c/telemetry'], subscribe: [] };
    devices.seed({ ...rows[0]!, acls: narrowed });
    const admitted = await authenticator.authenticate(good);
    assert.deepEqual([admitted.allow, admitted.allow && admitted.acls], [true, narrowed]);
    assert.equal(verifications(), 1, 'the password was never checked again');
  });

  it('a wrong password stays refused without scrypt; a row whose password changed is checked again', async () => {
    const { wall, devices, verifications, authenticator } = expiring();
    const wrong = { ...good, password: 'wrong-password-1' };
    assert.equal((await authenticator.authenticate(wrong)).allow, false);
    assert.equal((await authenticator.authenticate(good)).allow, true);
    assert.equal(verifications(), 2);
    wall.now += ttlMs;
    const again = await authenticator.authenticate(wrong);
    assert.deepEqual([again.allow, !again.allow && again.reason], [false, 'bad_credentials']);
    assert.equal(verifications(), 2);
    // The password becomes the one that was wrong: a new hash (new salt), so the old check counts for nothing.
    devices.seed({ ...rows[0]!, passwordHash: await hashPassword('wrong-password-1', cheap) });
    wall.now += ttlMs;
    assert.equal((await authenticator.authenticate(wrong)).allow, true);
    assert.equal((await authenticator.authenticate(good)).allow, false);
    assert.equal(verifications(), 4);
  });

  it('a user name changed in the row is not admitted on the old check', async () => {
    const { wall, devices, verifications, authenticator } = expiring();
    await authenticator.authenticate(good);
    devices.seed({ ...rows[0]!, username: 'fleet-2' });
    wall.now += ttlMs;
    const refused = await authenticator.authenticate(good);
    assert.deepEqual([refused.allow, !refused.allow && refused.reason], [false, 'bad_credentials']);
    assert.equal(verifications(), 2, 'another row: the password is checked');
  });

  it('an unknown device stays unknown without scrypt until it is added', async () => {
    const { wall, devices, verifications, authenticator } = expiring();
    const ghost = { clientId: 'dev-new', username: 'fleet', password: 'right-password-1' };
    assert.equal((await authenticator.authenticate(ghost)).allow, false);
    wall.now += ttlMs;
    assert.equal((await authenticator.authenticate(ghost)).allow, false);
    assert.equal(verifications(), 1);
    devices.seed({ ...rows[0]!, clientId: 'dev-new' });
    wall.now += ttlMs;
    assert.equal((await authenticator.authenticate(ghost)).allow, true);
    assert.equal(verifications(), 2);
  });

  it('past the revalidation window, or after an invalidation, the password is checked again', async () => {
    const { wall, cache, verifications, authenticator } = expiring();
    await authenticator.authenticate(good);
    wall.now += ttlMs + 3_600_000;
    assert.equal((await authenticator.authenticate(good)).result, 'allowed');
    assert.equal(verifications(), 2);
    await cache.invalidateDevice('dev-1');
    wall.now += ttlMs;
    assert.equal((await authenticator.authenticate(good)).result, 'allowed');
    assert.equal(verifications(), 3);
  });

  it('a full KDF queue does not refuse a revalidation that needs no KDF', async () => {
    const { wall, kdf, authenticator } = expiring(1);
    await authenticator.authenticate(good);
    wall.now += ttlMs;
    const slot = occupy(kdf);
    assert.equal(kdf.refusalFor(), 'full');
    assert.equal((await authenticator.authenticate(good)).allow, true);
    const stranger = await authenticator.authenticate({ ...good, clientId: 'dev-off', password: 'other' });
    assert.deepEqual([stranger.allow, !stranger.allow && stranger.reason], [false, 'kdf_busy']);
    await slot.free();
  });
});
