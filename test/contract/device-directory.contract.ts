import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeviceRegistry, NewDevice } from '../../ingest/auth/device-store.js';
import { verifyPassword } from '../../ingest/auth/password.js';
import { isSentinelError, type SentinelErrorCode } from '../../lib/errors.js';

/**
 * What every device directory does, whatever holds the devices (aedes-persistence's abstract.js:
 * a suite is a function of a factory). `DeviceStore` on MySQL/MariaDB and `MemoryDeviceStore` run
 * it in a few lines each, so a unit test that passes against the double means the same against the
 * real database. The factory gives a directory of its own (a fresh database, a fresh Map) and takes
 * it away in `close`.
 */
export interface DeviceDirectoryUnderTest {
  readonly directory: DeviceRegistry;
  close(): Promise<void>;
}

/** Cheap scrypt for tests; the directory keeps whatever parameters the hash names. */
export const contractHashParams = { log2N: 10, r: 1, p: 1 } as const;

export function deviceDirectoryContract(name: string, open: () => Promise<DeviceDirectoryUnderTest>): void {
  describe(`device directory contract: ${name}`, () => {
    let subject: DeviceDirectoryUnderTest;
    let directory: DeviceRegistry;

    before(async () => {
      subject = await open();
      directory = subject.directory;
    });
    after(() => subject.close());

    const device = (clientId: string, extra: Partial<NewDevice> = {}): NewDevice => ({
      clientId,
      username: `user-of-${clientId}`,
      password: `${clientId}-secret-password`,
      ...extra,
    });

    it('finds an added device for auth: user name, enabled, a hash of its password, its ACLs in order', async () => {
      await directory.add(
        device('found-1', {
          publish: ['devices/%c/telemetry', 'devices/%c/events/+'],
          subscribe: ['clients/%c/alerts', 'broadcast/#'],
        }),
      );
      const found = await directory.findForAuth('found-1');
      assert.ok(found);
      assert.deepEqual([found.clientId, found.username, found.enabled], ['found-1', 'user-of-found-1', true]);
      assert.equal(await verifyPassword('found-1-secret-password', found.passwordHash), true);
      assert.equal(await verifyPassword('found-1-other-password', found.passwordHash), false);
      assert.deepEqual(found.acls, {
        publish: ['devices/%c/telemetry', 'devices/%c/events/+'],
        subscribe: ['clients/%c/alerts', 'broadcast/#'],
      });
      assert.deepEqual(await directory.loadAcls('found-1'), found.acls);
    });

    it('accepts a password given as bytes, as the CLI reads it from stdin', async () => {
      await directory.add(device('bytes-1', { password: Buffer.from('bytes-1-secret-password') }));
      const found = await directory.findForAuth('bytes-1');
      assert.equal(await verifyPassword('bytes-1-secret-password', found?.passwordHash ?? ''), true);
    });

    it('a device without patterns has empty ACLs (deny by default)', async () => {
      await directory.add(device('no-acl-1'));
      assert.deepEqual((await directory.findForAuth('no-acl-1'))?.acls, { publish: [], subscribe: [] });
    });

    it('finds nothing for an unknown client id, and no ACLs', async () => {
      assert.equal(await directory.findForAuth('nobody-here'), undefined);
      assert.deepEqual(await directory.loadAcls('nobody-here'), { publish: [], subscribe: [] });
    });

    it('matches client ids exactly: case counts, a trailing space is another id', async () => {
      await directory.add(device('Exact-1'));
      assert.equal(await directory.findForAuth('exact-1'), undefined);
      assert.equal(await directory.findForAuth('Exact-1 '), undefined);
      assert.equal((await directory.findForAuth('Exact-1'))?.clientId, 'Exact-1');
      await directory.add(device('exact-1'));
      assert.equal((await directory.findForAuth('exact-1'))?.username, 'user-of-exact-1');
      await assert.rejects(directory.disable('Exact-1 '), (err) =>
        isSentinelError(err, 'SNT_DEVICE_UNKNOWN'),
      );
    });

    it('accepts any UTF-8 client id, as the edge does by default (MQTT-3.1.3-5)', async () => {
      for (const clientId of ['clean retained', 'capteur/é+#', 'myclientid']) {
        await directory.add(device(clientId));
        assert.equal((await directory.findForAuth(clientId))?.username, `user-of-${clientId}`);
      }
    });

    const refusals: Array<[string, NewDevice, SentinelErrorCode]> = [
      ['an existing client id', device('found-1'), 'SNT_DEVICE_EXISTS'],
      ['a client id with a control character', device('a\u0001b'), 'SNT_DEVICE_INVALID'],
      ['a client id of 129 bytes', device('c'.repeat(129)), 'SNT_DEVICE_INVALID'],
      ['an empty client id', device(''), 'SNT_DEVICE_INVALID'],
      ['a password under 12 bytes', device('short-1', { password: 'short' }), 'SNT_DEVICE_INVALID'],
      ['an empty user name', device('user-1', { username: '' }), 'SNT_DEVICE_INVALID'],
      [
        'a user name over 128 characters',
        device('user-2', { username: 'u'.repeat(129) }),
        'SNT_DEVICE_INVALID',
      ],
      ['an invalid ACL filter', device('acl-1', { subscribe: ['a/#/b'] }), 'SNT_DEVICE_INVALID'],
    ];
    for (const [what, refused, code] of refusals) {
      it(`refuses ${what} with ${code}, and keeps nothing of it`, async () => {
        await assert.rejects(directory.add(refused), (err) => isSentinelError(err, code));
        if (code !== 'SNT_DEVICE_EXISTS')
          assert.equal(await directory.findForAuth(refused.clientId), undefined);
      });
    }

    it('an existing device keeps its credentials when a second add is refused', async () => {
      await assert.rejects(directory.add(device('found-1', { username: 'intruder' })));
      assert.equal((await directory.findForAuth('found-1'))?.username, 'user-of-found-1');
    });

    it('disable and enable: idempotent, reflected in findForAuth and list, the reason kept until enabled', async () => {
      await directory.add(device('toggle-1'));
      await directory.disable('toggle-1', 'reported stolen');
      await directory.disable('toggle-1', 'reported stolen');
      assert.equal((await directory.findForAuth('toggle-1'))?.enabled, false);
      let listed = (await directory.list()).find((d) => d.clientId === 'toggle-1');
      assert.deepEqual([listed?.enabled, listed?.disabledReason], [false, 'reported stolen']);
      await directory.disable('toggle-1');
      listed = (await directory.list()).find((d) => d.clientId === 'toggle-1');
      assert.deepEqual([listed?.enabled, listed?.disabledReason], [false, null]);
      await directory.enable('toggle-1');
      await directory.enable('toggle-1');
      assert.equal((await directory.findForAuth('toggle-1'))?.enabled, true);
      listed = (await directory.list()).find((d) => d.clientId === 'toggle-1');
      assert.deepEqual([listed?.enabled, listed?.disabledReason], [true, null]);
    });

    it('disable and enable of an unknown device fail with SNT_DEVICE_UNKNOWN; a long reason with SNT_DEVICE_INVALID', async () => {
      await assert.rejects(directory.disable('nobody-here'), (err) =>
        isSentinelError(err, 'SNT_DEVICE_UNKNOWN'),
      );
      await assert.rejects(directory.enable('nobody-here'), (err) =>
        isSentinelError(err, 'SNT_DEVICE_UNKNOWN'),
      );
      await directory.add(device('reason-1'));
      await assert.rejects(directory.disable('reason-1', 'r'.repeat(256)), (err) =>
        isSentinelError(err, 'SNT_DEVICE_INVALID'),
      );
      assert.equal((await directory.findForAuth('reason-1'))?.enabled, true);
    });

    it('lists every device by client id in byte order, with state, ACLs and times, never a secret', async () => {
      for (const id of ['order-b', 'order-B', 'order-a', 'order-Z']) await directory.add(device(id));
      const listed = await directory.list();
      const ids = listed.map((d) => d.clientId).filter((id) => id.startsWith('order-'));
      assert.deepEqual(ids, ['order-B', 'order-Z', 'order-a', 'order-b']);
      const all = listed.map((d) => d.clientId);
      assert.deepEqual(
        all,
        [...all].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
      );
      const found = listed.find((d) => d.clientId === 'found-1');
      assert.deepEqual(
        [found?.username, found?.enabled, found?.publish, found?.subscribe],
        [
          'user-of-found-1',
          true,
          ['devices/%c/telemetry', 'devices/%c/events/+'],
          ['clients/%c/alerts', 'broadcast/#'],
        ],
      );
      assert.ok(!Number.isNaN(Date.parse(found?.createdAt ?? '')) && found?.createdAt.endsWith('Z'));
      assert.ok((found?.updatedAt ?? '') >= (found?.createdAt ?? ''));
      const text = JSON.stringify(listed);
      assert.doesNotMatch(text, /scrypt\$|secret-password/);
    });
  });
}
