import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { RunningConsole } from '../../console/main.js';
import type { HeldDetail, HeldPage } from '../../console/model.js';
import { type ForensicsSinkService, startForensicsSink } from '../../forensics/main.js';
import { forensicsSinkSchema } from '../../forensics/settings.js';
import { loadConfig } from '../../lib/config.js';
import { createLogger } from '../../lib/log.js';
import type { OriginMessage, OriginSubscriber } from '../helpers/bridge-world.js';
import { launchBrowser, screenshot } from '../helpers/browser.js';
import {
  api,
  type ConsoleAccounts,
  consoleAccounts,
  removeAccounts,
  setUpHoldingWorld,
  startTestConsole,
} from '../helpers/console.js';
import { listenerPort } from '../helpers/edge.js';
import { connectDevice } from '../helpers/mqtt-device.js';
import { PipelineTestWorld } from '../helpers/pipeline.js';
import { uniqueName } from '../helpers/platform.js';

/**
 * The operator's flows in a real browser (Debian's Chromium through playwright-core) against the
 * running pipeline: edge, processors (injections held for review), console, bridge, origin.
 * An injection is held and shows in the queue, is inspected and released in the page and arrives
 * at the origin once; a second one is dropped in the queue and never arrives.
 *
 * SENTINEL_CONSOLE_SCREENSHOTS=1 also writes the docs' screenshots (docs/console/*.png).
 */
const world = new PipelineTestWorld();
const password = 'console-browser-password';
const tag = uniqueName('cb').replaceAll('-', '');
const deviceId = `${tag}-sensor`;
let accounts: ConsoleAccounts;
let running: RunningConsole;
let origin: OriginSubscriber;
let browser: Browser;
let page: Page;
let sink: ForensicsSinkService;

/** The forensic sink on the world's topics with an embedded store of its own: offenders and timelines are real. */
async function startSink(): Promise<ForensicsSinkService> {
  const env = world.edgeWorld.env();
  const config = loadConfig(forensicsSinkSchema, {
    env: {
      SENTINEL_KAFKA_BROKERS: env.SENTINEL_KAFKA_BROKERS,
      SENTINEL_REGISTRY_URL: env.SENTINEL_REGISTRY_URL,
      SENTINEL_TOPIC_PREFIX: world.edgeWorld.topicPrefix,
      SENTINEL_CLICKHOUSE_URL: 'embedded',
      SENTINEL_CLICKHOUSE_PATH: join(accounts.dir, 'clickhouse'),
      SENTINEL_FORENSICS_GROUP_ID: `${world.edgeWorld.id}-forensics`,
      SENTINEL_FORENSICS_METRICS_PORT: '0',
      SENTINEL_FORENSICS_QUERY_PORT: '0',
      SENTINEL_FORENSICS_BATCH_MAX_MS: '200',
      SENTINEL_FORENSICS_NICE: '0',
    },
  });
  return startForensicsSink(config, {
    log: createLogger({ name: 'forensics-test', level: 'warn', destination: 2 }),
  });
}

async function publish(payload: string): Promise<void> {
  const client = await connectDevice(listenerPort(world.edge, 'mqtt'), deviceId, password);
  await client.publishAsync(`devices/${deviceId}/telemetry`, payload, { qos: 1 });
  await client.endAsync();
}

const isMarker = (m: OriginMessage) => m.payload.toString().startsWith('{"marker"');

/** What reached the origin from the device (markers aside), once a marker published now has arrived. */
async function atOriginAfterMarker(): Promise<string[]> {
  const marker = JSON.stringify({ marker: randomUUID() });
  await publish(marker);
  await origin.until((ms) => ms.some((m) => m.payload.toString() === marker));
  return origin.messages.filter((m) => !isMarker(m)).map((m) => m.payload.toString());
}

/** Publishes an injection; reloads the queue until its row shows; returns the held id and how long it took. */
async function injectAndFindInQueue(payload: string): Promise<{ heldId: string; ms: number }> {
  const started = Date.now();
  await publish(payload);
  for (;;) {
    await page.goto(`${running.url}/quarantine?status=held&client=${deviceId}`);
    const rows = page.locator('tr[data-held-id]');
    const ids = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-held-id') as string));
    const fresh = ids.find((id) => running.quarantine.get(id)?.held.payload.toString() === payload);
    if (fresh) return { heldId: fresh, ms: Date.now() - started };
    await page.waitForTimeout(100);
  }
}

/** The stream shows what happens from now on, once its consumer has joined: readings go on until one shows. */
async function liveVerdictRowShows(): Promise<void> {
  const row = page.locator('#verdict-stream tr', { hasText: deviceId }).first();
  for (let t = 21; !(await row.isVisible()); t++) {
    await publish(JSON.stringify({ t, id: randomUUID() }));
    await row.waitFor({ timeout: 1000 }).catch(() => undefined);
  }
}

before(async () => {
  accounts = await consoleAccounts();
  await setUpHoldingWorld(world, accounts);
  await world.edgeWorld.addDevice({
    clientId: deviceId,
    username: deviceId,
    password,
    publish: ['devices/%c/#'],
  });
  origin = await world.subscribeAtOrigin([`devices/${deviceId}/telemetry`]);
  sink = await startSink();
  running = await startTestConsole(world, accounts, { SENTINEL_FORENSICS_URL: sink.query?.url ?? '' });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
});

after(async () => {
  await browser?.close();
  await running?.stop();
  await sink?.stop();
  await world.tearDown();
  removeAccounts(accounts);
});

describe('the operator console in a real browser', { timeout: 240_000 }, () => {
  it('signs in, and the dashboard streams live verdicts', async () => {
    await page.goto(`${running.url}/quarantine`);
    assert.match(page.url(), /\/login\?next=/, 'an unauthenticated page goes to sign-in');
    await screenshot(page, 'login');
    await page.getByLabel('Name').fill('alice');
    await page.getByLabel('Password').fill('wrong password here');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    await page.getByLabel('Name').fill('alice');
    await page.getByLabel('Password').fill(accounts.operatorPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/quarantine/);

    await page.goto(running.url);
    await page.locator('#verdict-stream-state[data-state="open"]').waitFor();
    await liveVerdictRowShows();
  });

  it('an injection is held, shows in the queue, is released in the page and arrives at the origin once', async () => {
    const payload = JSON.stringify({
      name: `x' OR 1=1 -- ${randomUUID()}`,
      note: '<script>alert(1)</script>',
    });
    const { heldId, ms } = await injectAndFindInQueue(payload);
    console.log(`# held message visible in the queue ${ms} ms after the device published it`);
    assert.deepEqual(
      (await atOriginAfterMarker()).filter((p) => p === payload),
      [],
      'nothing held reaches the origin',
    );
    await screenshot(page, 'queue');

    await page.getByRole('link', { name: `Inspect ${heldId}` }).click();
    await page.waitForURL(new RegExp(`/quarantine/${heldId}`));
    assert.ok((await page.locator('mark').count()) > 0, 'the finding is highlighted in the payload');
    assert.equal(
      await page.locator('script', { hasText: 'alert(1)' }).count(),
      0,
      'payload markup is text, never markup',
    );
    await screenshot(page, 'detail');
    await page.getByRole('link', { name: 'hex', exact: false }).first().click();
    await page.locator('pre', { hasText: '00000000' }).waitFor();

    await page.getByLabel(`to release ${heldId}`).fill('known test string from the lab');
    const releasedAt = Date.now();
    await page.getByRole('button', { name: `Release ${heldId}` }).click();
    await page.locator('.decision[data-status="released"]', { hasText: 'alice' }).waitFor();
    await origin.until((ms) => ms.some((m) => m.payload.toString() === payload));
    console.log(`# released message at the origin ${Date.now() - releasedAt} ms after the click`);
    await screenshot(page, 'released');
    assert.deepEqual(
      (await atOriginAfterMarker()).filter((p) => p === payload),
      [payload],
      'delivered exactly once',
    );
  });

  it('a second injection is dropped in the queue and never arrives', async () => {
    const payload = JSON.stringify({ cmd: `; cat /etc/passwd # ${randomUUID()}` });
    const { heldId } = await injectAndFindInQueue(payload);
    const row = page.locator(`tr[data-held-id="${heldId}"]`);
    await row.getByLabel(`to drop ${heldId}`).fill('attack, confirmed');
    await row.getByRole('button', { name: `Drop ${heldId}` }).click();
    await row.locator('.decision[data-status="dropped"]').waitFor();
    assert.deepEqual(
      (await atOriginAfterMarker()).filter((p) => p === payload),
      [],
      'a dropped message never arrives',
    );
    // The timeline is the forensic store's: it shows the device's packets and verdicts once stored.
    for (;;) {
      await page.goto(`${running.url}/devices/${deviceId}`);
      await page.locator('tr[data-held-id]').first().waitFor();
      if ((await page.locator('table.timeline tr.kind-verdict').count()) > 0) break;
      await page.waitForTimeout(250);
    }
    await screenshot(page, 'device');
    // Top offenders: the device's quarantine verdicts, read from the forensic store.
    for (;;) {
      await page.goto(running.url);
      if (
        (await page
          .locator('section[aria-labelledby="offenders-heading"] a', { hasText: deviceId })
          .count()) > 0
      )
        break;
      await page.waitForTimeout(250);
    }
    await liveVerdictRowShows();
    await screenshot(page, 'dashboard');
  });

  it('a console that keeps no payload in memory reads it back from the forensic store to show and release it', async () => {
    const lean = await startTestConsole(world, accounts, {
      SENTINEL_FORENSICS_URL: sink.query?.url ?? '',
      SENTINEL_CONSOLE_MAX_PAYLOAD_BYTES: '0',
      SENTINEL_CONSOLE_TRANSACTIONAL_ID: `${world.edgeWorld.id}-console-lean`,
    });
    try {
      const payload = JSON.stringify({ name: `x' OR 1=1 -- ${randomUUID()}` });
      await publish(payload);
      let heldId = '';
      while (heldId === '') {
        const { body } = await api<HeldPage>(
          lean,
          accounts.viewerToken,
          'GET',
          `/api/v1/held?client=${deviceId}`,
        );
        heldId =
          body.items.find((h) => lean.quarantine.get(h.heldId)?.payloadSize === payload.length)?.heldId ?? '';
        if (heldId === '') await page.waitForTimeout(50);
      }
      assert.equal(lean.quarantine.get(heldId)?.payloadInMemory, false);
      // 503 until the sink has stored it, then the payload as the device sent it.
      let detail = await api<HeldDetail>(lean, accounts.viewerToken, 'GET', `/api/v1/held/${heldId}`);
      while (detail.status === 503) {
        await page.waitForTimeout(100);
        detail = await api<HeldDetail>(lean, accounts.viewerToken, 'GET', `/api/v1/held/${heldId}`);
      }
      assert.equal(detail.status, 200);
      assert.equal(detail.body.payload.text, payload);
      const released = await api(lean, accounts.operatorToken, 'POST', `/api/v1/held/${heldId}/release`, {
        reason: 'read back from the forensic store',
      });
      assert.equal(released.status, 200);
      assert.deepEqual(
        (await atOriginAfterMarker()).filter((p) => p === payload),
        [payload],
        'released with its payload, once',
      );
      assert.equal(lean.quarantine.store.payloadBytesInMemory, 0);
    } finally {
      await lean.stop();
    }
  });
});
