import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { CachedDecision } from './decision-cache.js';
import { LocalDecisionCache, variantsPerDevice } from './local-cache.js';

const allow: CachedDecision = { allow: true, acls: { publish: ['devices/%c/up'], subscribe: [] } };
const deny: CachedDecision = { allow: false, reason: 'bad_credentials' };

function setup(options: { ttlMs?: number; maxAllowedDevices?: number; maxDeniedDevices?: number } = {}) {
  const clock = { now: 1_000 };
  const registry = new Registry();
  const cache = new LocalDecisionCache({
    ttlMs: options.ttlMs ?? 10_000,
    maxAllowedDevices: options.maxAllowedDevices ?? 100,
    maxDeniedDevices: options.maxDeniedDevices ?? 100,
    now: () => clock.now,
    registry,
  });
  const keep = (clientId: string, tag: string, decision: CachedDecision, lifetimeMs?: number) => {
    const fill = cache.begin(clientId);
    const kept = cache.put(fill, tag, decision, lifetimeMs);
    cache.end(fill);
    return kept;
  };
  const metric = async (name: string, labels: Record<string, string> = {}) =>
    (await registry.getSingleMetric(name)?.get())?.values.find((v) =>
      Object.entries(labels).every(([k, value]) => v.labels[k] === value),
    )?.value ?? 0;
  return { cache, clock, keep, metric };
}

describe('LocalDecisionCache: lifetime', () => {
  it('drops the decisions whose time is up without being asked for them', async () => {
    const { cache, clock, keep, metric } = setup({ ttlMs: 10_000 });
    keep('dev-1', 'tag-a', allow);
    keep('dev-2', 'tag-b', deny);
    clock.now += 5_000;
    keep('dev-1', 'tag-c', allow);
    keep('dev-3', 'tag-d', allow);
    assert.equal(cache.dropExpired(), 0);
    clock.now += 5_000;
    assert.equal(cache.dropExpired(), 2, 'dev-1 tag-a and dev-2 tag-b');
    assert.equal(cache.size, 2);
    assert.equal(await metric('sentinel_auth_local_cache_entries'), 2);
    assert.deepEqual(cache.get('dev-1', 'tag-c'), allow);
    assert.deepEqual(cache.get('dev-3', 'tag-d'), allow);
    clock.now += 5_000;
    assert.equal(cache.dropExpired(), 2);
    assert.equal(cache.size, 0);
  });

  it('serves a decision until its TTL and not a millisecond after', () => {
    const { cache, clock, keep } = setup({ ttlMs: 10_000 });
    keep('dev-1', 'tag-a', allow);
    clock.now += 9_999;
    assert.deepEqual(cache.get('dev-1', 'tag-a'), allow);
    clock.now += 1;
    assert.equal(cache.get('dev-1', 'tag-a'), undefined);
    assert.equal(cache.size, 0);
  });

  it('never outlives what the Redis entry had left', () => {
    const { cache, clock, keep } = setup({ ttlMs: 10_000 });
    keep('dev-1', 'tag-a', allow, 2_000);
    clock.now += 2_000;
    assert.equal(cache.get('dev-1', 'tag-a'), undefined);
    assert.equal(keep('dev-1', 'tag-b', allow, 0), false, 'nothing left: not kept');
  });

  it('answers per credentials: another password is a miss', () => {
    const { cache, keep } = setup();
    keep('dev-1', 'right', allow);
    assert.equal(cache.get('dev-1', 'wrong'), undefined);
    assert.equal(cache.get('dev-2', 'right'), undefined);
  });

  it('counts hits and misses', async () => {
    const { cache, keep, metric } = setup();
    keep('dev-1', 'tag-a', deny);
    cache.get('dev-1', 'tag-a');
    cache.get('dev-1', 'tag-b');
    cache.get('dev-1', 'tag-a');
    assert.equal(await metric('sentinel_auth_local_cache_hits_total'), 2);
    assert.equal(await metric('sentinel_auth_local_cache_misses_total'), 1);
    assert.equal(await metric('sentinel_auth_local_cache_entries'), 1);
  });
});

describe('LocalDecisionCache: revocation', () => {
  it('invalidateDevice drops every decision of that device and only that device', async () => {
    const { cache, keep, metric } = setup();
    keep('dev-1', 'tag-a', allow);
    keep('dev-1', 'tag-b', deny);
    keep('dev-2', 'tag-a', allow);
    cache.invalidateDevice('dev-1');
    assert.equal(cache.get('dev-1', 'tag-a'), undefined);
    assert.equal(cache.get('dev-1', 'tag-b'), undefined);
    assert.deepEqual(cache.get('dev-2', 'tag-a'), allow);
    assert.equal(cache.size, 1);
    assert.equal(await metric('sentinel_auth_local_cache_invalidations_total', { scope: 'device' }), 1);
  });

  it('does not keep a decision whose computation began before the device was invalidated', () => {
    const { cache } = setup();
    const before = cache.begin('dev-1');
    const other = cache.begin('dev-2');
    cache.invalidateDevice('dev-1');
    const after = cache.begin('dev-1');
    assert.equal(cache.put(before, 'tag-a', allow), false);
    assert.equal(cache.get('dev-1', 'tag-a'), undefined);
    assert.equal(cache.put(other, 'tag-a', allow), true, 'another device is unaffected');
    assert.equal(cache.put(after, 'tag-a', allow), true, 'a computation begun afterwards is kept');
    for (const fill of [before, other, after]) cache.end(fill);
  });

  it('clear drops everything and stales every computation in progress', async () => {
    const { cache, keep, metric } = setup();
    keep('dev-1', 'tag-a', allow);
    const running = cache.begin('dev-2');
    cache.clear();
    assert.equal(cache.get('dev-1', 'tag-a'), undefined);
    assert.equal(cache.put(running, 'tag-a', allow), false);
    cache.end(running);
    assert.equal(cache.size, 0);
    assert.equal(await metric('sentinel_auth_local_cache_invalidations_total', { scope: 'all' }), 1);
  });

  it('a decision replaces the opposite one for the same credentials', () => {
    const { cache, keep } = setup();
    keep('dev-1', 'tag-a', allow);
    keep('dev-1', 'tag-a', { allow: false, reason: 'disabled' });
    assert.deepEqual(cache.get('dev-1', 'tag-a'), { allow: false, reason: 'disabled' });
    assert.equal(cache.size, 1);
  });
});

describe('LocalDecisionCache: memory bound', () => {
  it('evicts the least recently used device when full', () => {
    const { cache, keep } = setup({ maxAllowedDevices: 2 });
    keep('dev-1', 't', allow);
    keep('dev-2', 't', allow);
    cache.get('dev-1', 't');
    keep('dev-3', 't', allow);
    assert.deepEqual(cache.get('dev-1', 't'), allow);
    assert.equal(cache.get('dev-2', 't'), undefined);
    assert.deepEqual(cache.get('dev-3', 't'), allow);
    assert.equal(cache.size, 2);
  });

  it('a flood of denials never evicts an allow', () => {
    const { cache, keep } = setup({ maxAllowedDevices: 10, maxDeniedDevices: 10 });
    keep('good', 't', allow);
    for (let i = 0; i < 1_000; i++) keep(`attacker-${i}`, 't', deny);
    assert.deepEqual(cache.get('good', 't'), allow);
    assert.equal(cache.size, 11);
  });

  it(`keeps at most ${variantsPerDevice} credential variants of one device`, () => {
    const { cache, keep } = setup();
    for (let i = 0; i < 20; i++) keep('dev-1', `guess-${i}`, deny);
    assert.equal(cache.size, variantsPerDevice);
    assert.deepEqual(cache.get('dev-1', 'guess-19'), deny);
    assert.equal(cache.get('dev-1', 'guess-0'), undefined);
  });

  it('refuses a zero or fractional bound', () => {
    assert.throws(() => setup({ ttlMs: 0 }), RangeError);
    assert.throws(() => setup({ maxDeniedDevices: 1.5 }), RangeError);
  });
});
