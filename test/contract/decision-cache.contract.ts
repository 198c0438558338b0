import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type {
  CachedDecision,
  CacheLookup,
  CredentialMaterial,
  DecisionCache,
  InvalidationFeed,
} from '../../ingest/auth/decision-cache.js';
import { waitFor } from '../../platform/processes.js';

/**
 * What every auth decision cache does (aedes-persistence style: a suite is a function of a factory).
 * `RedisDecisionCache` with its Pub/Sub feed and `MemoryDecisionCache` run it, so the double the
 * authenticator's unit tests use can never drift from Redis. The factory gives a cache of its own
 * (a unique key prefix, a fresh Map) with the TTL it states, and cleans up in `close`; asked for
 * `lifetimes`, with that TTL and revalidation window (the expiry cases use a 1 s TTL, on real time).
 */
export interface CacheLifetimes {
  readonly ttlSeconds: number;
  readonly revalidateSeconds: number;
}

export interface DecisionCacheUnderTest {
  readonly cache: DecisionCache;
  readonly feed: InvalidationFeed;
  readonly ttlSeconds: number;
  close(): Promise<void>;
}

const allow: CachedDecision = {
  allow: true,
  acls: { publish: ['devices/%c/up'], subscribe: ['clients/%c/alerts', 'broadcast/#'] },
};

export function decisionCacheContract(
  name: string,
  open: (lifetimes?: CacheLifetimes) => Promise<DecisionCacheUnderTest>,
): void {
  describe(`decision cache contract: ${name}`, () => {
    let subject: DecisionCacheUnderTest;
    let cache: DecisionCache;

    before(async () => {
      subject = await open();
      cache = subject.cache;
    });
    after(() => subject.close());

    const credentials = (clientId: string, password = 'right-password-1'): CredentialMaterial => ({
      clientId,
      username: 'fleet',
      password,
    });

    /** Stores `decision` the way the authenticator does: against the epoch its lookup saw. */
    async function remember(who: CredentialMaterial, decision: CachedDecision): Promise<void> {
      const seen = await cache.lookup(who);
      await cache.store(who, seen.epoch, decision);
    }

    it('knows nothing of a device never seen: no decision, no epoch', async () => {
      assert.deepEqual(await cache.lookup(credentials('never-1')), { decision: undefined, epoch: null });
    });

    it('gives back a stored allow with its ACLs, an epoch, and what it has left to live', async () => {
      await remember(credentials('allow-1'), allow);
      const found = await cache.lookup(credentials('allow-1'));
      assert.deepEqual(found.decision, allow);
      assert.equal(typeof found.epoch, 'string');
      assert.ok(
        found.remainingMs !== undefined &&
          found.remainingMs > 0 &&
          found.remainingMs <= subject.ttlSeconds * 1000,
        `remainingMs ${found.remainingMs}`,
      );
    });

    for (const reason of ['unknown_device', 'bad_credentials', 'disabled'] as const) {
      it(`gives back a stored denial (${reason})`, async () => {
        const who = credentials(`deny-${reason}`);
        await remember(who, { allow: false, reason });
        assert.deepEqual((await cache.lookup(who)).decision, { allow: false, reason });
      });
    }

    it('binds a decision to the exact credentials: another password, user or device is a miss', async () => {
      await remember(credentials('bound-1'), allow);
      const epoch = (await cache.lookup(credentials('bound-1'))).epoch;
      const otherPassword = await cache.lookup(credentials('bound-1', 'other-password'));
      assert.deepEqual(otherPassword, { decision: undefined, epoch });
      const otherUser = await cache.lookup({ ...credentials('bound-1'), username: 'fleet-2' });
      assert.equal(otherUser.decision, undefined);
      assert.equal((await cache.lookup(credentials('bound-2'))).decision, undefined);
    });

    it('treats a password as its UTF-8 bytes: string and Buffer find the same decision', async () => {
      await remember(credentials('bytes-1'), allow);
      const asBytes = { ...credentials('bytes-1'), password: Buffer.from('right-password-1') };
      assert.deepEqual((await cache.lookup(asBytes)).decision, allow);
    });

    it('keeps certificate identities apart from passwords', async () => {
      await remember({ clientId: 'cert-1', certificateCn: 'cert-1' }, allow);
      assert.deepEqual((await cache.lookup({ clientId: 'cert-1', certificateCn: 'cert-1' })).decision, allow);
      assert.equal((await cache.lookup({ clientId: 'cert-1', password: 'cert-1' })).decision, undefined);
    });

    it('keeps several credentials of one device side by side, and one invalidation ends them all', async () => {
      await remember(credentials('many-1'), allow);
      await remember(credentials('many-1', 'wrong-guess'), { allow: false, reason: 'bad_credentials' });
      assert.deepEqual((await cache.lookup(credentials('many-1'))).decision, allow);
      const before = (await cache.lookup(credentials('many-1'))).epoch;
      await cache.invalidateDevice('many-1');
      const after = await cache.lookup(credentials('many-1'));
      assert.equal(after.decision, undefined);
      assert.equal((await cache.lookup(credentials('many-1', 'wrong-guess'))).decision, undefined);
      assert.ok(after.epoch !== null && after.epoch !== before, 'a new epoch, never reused');
    });

    it('an invalidation leaves other devices alone', async () => {
      await remember(credentials('keep-1'), allow);
      await remember(credentials('drop-1'), allow);
      await cache.invalidateDevice('drop-1');
      assert.deepEqual((await cache.lookup(credentials('keep-1'))).decision, allow);
      assert.equal((await cache.lookup(credentials('drop-1'))).decision, undefined);
    });

    it('never stores a decision computed against an epoch an invalidation replaced (compare-and-set)', async () => {
      const who = credentials('race-1');
      await remember(who, allow);
      const seen = await cache.lookup(who);
      await cache.invalidateDevice('race-1');
      await cache.store(who, seen.epoch, allow);
      assert.equal((await cache.lookup(who)).decision, undefined);
    });

    it('never stores against "no epoch" once an invalidation created one', async () => {
      const who = credentials('race-2');
      const seen = await cache.lookup(who);
      assert.equal(seen.epoch, null);
      await cache.invalidateDevice('race-2');
      await cache.store(who, seen.epoch, allow);
      assert.equal((await cache.lookup(who)).decision, undefined);
    });

    it('stores again against the epoch read after the invalidation', async () => {
      const who = credentials('after-1');
      await cache.invalidateDevice('after-1');
      await remember(who, { allow: false, reason: 'disabled' });
      assert.deepEqual((await cache.lookup(who)).decision, { allow: false, reason: 'disabled' });
    });

    it('tells watchers of the feed which device was invalidated, until they stop watching', async () => {
      const heard: string[] = [];
      let wake: () => void = () => undefined;
      const stop = subject.feed.watch({
        device: (clientId) => {
          heard.push(clientId);
          wake();
        },
        all: () => undefined,
      });
      const first = new Promise<void>((resolve) => {
        wake = resolve;
      });
      await cache.invalidateDevice('feed-1');
      await first;
      assert.deepEqual(heard, ['feed-1']);
      stop();
      // Absence proved with a marker: a second watcher hears the marker, the stopped one nothing.
      const marker = new Promise<void>((resolve) => {
        const stopMarker = subject.feed.watch({
          device: (clientId) => {
            if (clientId === 'feed-marker') {
              stopMarker();
              resolve();
            }
          },
          all: () => undefined,
        });
      });
      await cache.invalidateDevice('feed-2');
      await cache.invalidateDevice('feed-marker');
      await marker;
      assert.deepEqual(heard, ['feed-1']);
    });

    describe('expiry and revalidation (TTL 1 s, kept 60 s past it)', () => {
      let short: DecisionCacheUnderTest;
      before(async () => {
        short = await open({ ttlSeconds: 1, revalidateSeconds: 60 });
      });
      after(() => short.close());

      const checkedRow = { username: 'fleet', passwordHash: 'scrypt$11$8$1$salt$key' };

      /** Stores against the epoch a lookup saw, then waits (real time) until the TTL has passed. */
      async function storeAndExpire(who: CredentialMaterial, decision: CachedDecision, row?: string) {
        const seen = await short.cache.lookup(who);
        await short.cache.store(who, seen.epoch, decision, row);
        const fresh = await short.cache.lookup(who);
        assert.deepEqual(fresh.decision, decision, 'fresh for its TTL');
        assert.ok(
          fresh.remainingMs !== undefined && fresh.remainingMs <= 1000,
          `remainingMs ${fresh.remainingMs}`,
        );
        let last: CacheLookup = fresh;
        await waitFor(
          'the decision to pass its TTL',
          async () => {
            last = await short.cache.lookup(who);
            return last.decision === undefined;
          },
          { timeoutMs: 5000, intervalMs: 50 },
        );
        return last;
      }

      it('a decision stored with a row fingerprint is reported expired, with its decision and fingerprint', async () => {
        const who = credentials('expire-1');
        const row = short.cache.rowFingerprint('expire-1', checkedRow);
        const expired = await storeAndExpire(who, allow, row);
        assert.deepEqual(expired.expired, { decision: allow, row });
        assert.equal(typeof expired.epoch, 'string');
        const denial: CachedDecision = { allow: false, reason: 'bad_credentials' };
        const wrong = credentials('expire-1', 'wrong-guess');
        assert.deepEqual((await storeAndExpire(wrong, denial, row)).expired, { decision: denial, row });
      });

      it('a decision stored without one is simply gone after its TTL', async () => {
        const who = { clientId: 'expire-cert', certificateCn: 'expire-cert' };
        const expired = await storeAndExpire(who, allow);
        assert.equal(expired.expired, undefined);
      });

      it('an invalidation ends an expired decision too', async () => {
        const who = credentials('expire-2');
        await storeAndExpire(who, allow, short.cache.rowFingerprint('expire-2', checkedRow));
        await short.cache.invalidateDevice('expire-2');
        const after = await short.cache.lookup(who);
        assert.deepEqual([after.decision, after.expired], [undefined, undefined]);
      });

      it('a row fingerprint names the device, user name and hash, and "no such device" has its own', () => {
        const of = (clientId: string, row: typeof checkedRow | undefined) =>
          short.cache.rowFingerprint(clientId, row);
        const base = of('fp-1', checkedRow);
        assert.equal(of('fp-1', { ...checkedRow }), base, 'stable');
        assert.notEqual(of('fp-2', checkedRow), base);
        assert.notEqual(of('fp-1', { ...checkedRow, username: 'fleet-2' }), base);
        assert.notEqual(of('fp-1', { ...checkedRow, passwordHash: 'scrypt$11$8$1$salt$other' }), base);
        assert.notEqual(of('fp-1', undefined), base);
        assert.ok(
          !base.includes(checkedRow.passwordHash) && !base.includes('fleet'),
          'nothing readable in it',
        );
      });
    });
  });
}
