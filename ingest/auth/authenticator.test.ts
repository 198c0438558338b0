import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { SentinelError } from '../../lib/errors.js';
import type { DeviceAcls } from './acl.js';
import {
  Authenticator,
  type AuthRequest,
  certificateIdentityMatches,
  type IdentityMode,
} from './authenticator.js';
import {
  type CachedDecision,
  type CacheLookup,
  credentialTag,
  type DecisionCache,
} from './decision-cache.js';
import type { DeviceCredentials, DeviceDirectory } from './device-store.js';
import { createDummyHash, hashPassword } from './password.js';

const cheap = { log2N: 10, r: 1, p: 1 };
const silent = pino({ level: 'silent' });
const acls: DeviceAcls = { publish: ['devices/%c/up'], subscribe: ['clients/%c/alerts'] };

/** The device DB as a map; `down` makes every read fail the way an unreachable DB does. */
class MemoryDevices implements DeviceDirectory {
  down = false;
  lookups = 0;
  constructor(readonly rows: Map<string, DeviceCredentials>) {}
  async findForAuth(clientId: string): Promise<DeviceCredentials | undefined> {
    this.lookups++;
    if (this.down) throw new SentinelError('SNT_DEVICE_DB_UNAVAILABLE', 'down');
    return this.rows.get(clientId);
  }
}

class MemoryCache implements DecisionCache {
  down = false;
  readonly entries = new Map<string, CachedDecision>();
  async lookup(credentials: Parameters<DecisionCache['lookup']>[0]): Promise<CacheLookup> {
    if (this.down) throw new Error('ECONNREFUSED');
    return { decision: this.entries.get(credentialTag('k', credentials)), epoch: null };
  }
  async store(
    credentials: Parameters<DecisionCache['store']>[0],
    _epoch: string | null,
    decision: CachedDecision,
  ) {
    if (this.down) throw new Error('ECONNREFUSED');
    this.entries.set(credentialTag('k', credentials), decision);
  }
  async invalidateDevice(): Promise<void> {
    this.entries.clear();
  }
}

let dummyHash: string;
let rows: Map<string, DeviceCredentials>;

before(async () => {
  dummyHash = await createDummyHash(cheap);
  const hash = await hashPassword('right-password-1', cheap);
  rows = new Map([
    ['dev-1', { clientId: 'dev-1', username: 'fleet', passwordHash: hash, enabled: true, acls }],
    ['dev-off', { clientId: 'dev-off', username: 'fleet', passwordHash: hash, enabled: false, acls }],
    [
      'dev-bad-hash',
      { clientId: 'dev-bad-hash', username: 'fleet', passwordHash: 'md5$x', enabled: true, acls },
    ],
  ]);
});

function setup(identity: IdentityMode = 'password', withCache = true) {
  const devices = new MemoryDevices(rows);
  const cache = withCache ? new MemoryCache() : undefined;
  const registry = new Registry();
  const authenticator = new Authenticator({ devices, cache, registry, logger: silent, dummyHash, identity });
  const count = async (result: string) => {
    const metric = (await registry.getSingleMetric('sentinel_auth_requests_total')?.get())?.values ?? [];
    return metric.find((v) => v.labels.result === result)?.value ?? 0;
  };
  const gauge = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values[0]?.value;
  return { devices, cache, authenticator, count, gauge };
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
    const registry = new Registry();
    const authenticator = new Authenticator({
      devices: new MemoryDevices(rows),
      cache: undefined,
      registry,
      logger: silent,
      dummyHash,
    });
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
