import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { RunningConsole } from '../../console/main.js';
import type { HeldDetail, HeldPage } from '../../console/model.js';
import type { OriginMessage, OriginSubscriber } from '../helpers/bridge-world.js';
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
 * Quarantine review on the real pipeline (edge -> processors -> sentinel.quarantine -> console ->
 * sentinel.approved -> bridge -> origin), with injections held for review (policy
 * patterns.action = quarantine). Absence at the origin is proved with a marker from the same
 * client published after the decision: one client's messages share a partition end to end, so
 * once the marker arrived anything released before it would have arrived before it.
 */
const world = new PipelineTestWorld();
const password = 'console-device-password';
const tag = uniqueName('cq').replaceAll('-', '');
let accounts: ConsoleAccounts;
let running: RunningConsole;
let origin: OriginSubscriber;
let clock = Date.now;

const device = (name: string) => `${tag}-${name}`;

async function publish(clientId: string, payload: string): Promise<void> {
  const client = await connectDevice(listenerPort(world.edge, 'mqtt'), clientId, password);
  await client.publishAsync(`devices/${clientId}/telemetry`, payload, { qos: 1 });
  await client.endAsync();
}

/** Publishes an injection and waits until the console holds it; returns its held id. */
async function holdInjection(clientId: string): Promise<{ heldId: string; payload: string }> {
  const payload = JSON.stringify({ name: `x' OR 1=1 -- ${randomUUID()}` });
  await publish(clientId, payload);
  for (;;) {
    const { body } = await api<HeldPage>(
      running,
      accounts.viewerToken,
      'GET',
      `/api/v1/held?client=${clientId}&status=all`,
    );
    const found = body.items.find((h) => h.clientId === clientId);
    if (found) return { heldId: found.heldId, payload };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** What reached the origin from `clientId`, once a marker published now has arrived. */
async function atOriginAfterMarker(clientId: string): Promise<OriginMessage[]> {
  const marker = JSON.stringify({ marker: randomUUID() });
  await publish(clientId, marker);
  await origin.until((ms) => ms.some((m) => m.payload.toString() === marker));
  return origin.messages.filter(
    (m) => m.topic === `devices/${clientId}/telemetry` && !m.payload.toString().startsWith('{"marker"'),
  );
}

before(async () => {
  accounts = await consoleAccounts();
  await setUpHoldingWorld(world, accounts);
  for (const name of ['release', 'drop', 'race', 'restart', 'expire', 'bulk1', 'bulk2']) {
    await world.edgeWorld.addDevice({
      clientId: device(name),
      username: device(name),
      password,
      publish: ['devices/%c/#'],
    });
  }
  origin = await world.subscribeAtOrigin([`devices/+/telemetry`]);
  running = await startTestConsole(world, accounts, {}, { now: () => clock() });
});

after(async () => {
  await running?.stop();
  await world.tearDown();
  removeAccounts(accounts);
});

describe('quarantine review through the console API', { timeout: 240_000 }, () => {
  it('an injection is held whole, never reaches the origin, and is delivered once when released', async () => {
    const clientId = device('release');
    const { heldId, payload } = await holdInjection(clientId);
    const { body: held } = await api<HeldDetail>(
      running,
      accounts.viewerToken,
      'GET',
      `/api/v1/held/${heldId}`,
    );
    assert.equal(held.status, 'held');
    assert.equal(held.payload.text, payload);
    assert.ok(held.findings.some((f) => f.class === 'sqli' && f.action === 'quarantine'));
    assert.ok(held.payload.highlights.length > 0, 'the evidence is located in the payload');
    assert.deepEqual(await atOriginAfterMarker(clientId), [], 'nothing held reaches the origin');

    const viewer = await api(running, accounts.viewerToken, 'POST', `/api/v1/held/${heldId}/release`, {
      reason: 'x',
    });
    assert.equal(viewer.status, 403, 'a viewer cannot decide');
    const noReason = await api(running, accounts.operatorToken, 'POST', `/api/v1/held/${heldId}/release`, {});
    assert.equal(noReason.status, 400);

    const released = await api<{ outcome: string; held: HeldDetail }>(
      running,
      accounts.operatorToken,
      'POST',
      `/api/v1/held/${heldId}/release`,
      { reason: 'test firmware string, expected' },
    );
    assert.equal(released.status, 200);
    assert.equal(released.body.held.status, 'released');
    const again = await api(running, accounts.operatorToken, 'POST', `/api/v1/held/${heldId}/drop`, {
      reason: 'late',
    });
    assert.equal(again.status, 409, 'the first decision stands');

    const arrived = await atOriginAfterMarker(clientId);
    assert.deepEqual(
      arrived.map((m) => m.payload.toString()),
      [payload],
      'released exactly once',
    );
    const verdict = await world.waitForVerdict((v) => v.eventId === heldId && v.decision === 'released');
    assert.equal(verdict.review?.operator, 'alice-cli');
    assert.equal(verdict.review?.reason, 'test firmware string, expected');
  });

  it('a dropped message never arrives and is recorded as dropped', async () => {
    const clientId = device('drop');
    const { heldId } = await holdInjection(clientId);
    const dropped = await api(running, accounts.operatorToken, 'POST', `/api/v1/held/${heldId}/drop`, {
      reason: 'real attack',
    });
    assert.equal(dropped.status, 200);
    assert.deepEqual(await atOriginAfterMarker(clientId), []);
    const verdict = await world.waitForVerdict((v) => v.eventId === heldId && v.decision === 'dropped');
    assert.equal(verdict.review?.reason, 'real attack');
  });

  it('two operators deciding at the same moment: one decision, the other told who was first', async () => {
    const clientId = device('race');
    const { heldId, payload } = await holdInjection(clientId);
    const [a, b] = await Promise.all([
      api(running, accounts.operatorToken, 'POST', `/api/v1/held/${heldId}/release`, { reason: 'a' }),
      api(running, accounts.secondOperatorToken, 'POST', `/api/v1/held/${heldId}/release`, { reason: 'b' }),
    ]);
    assert.deepEqual([a.status, b.status].sort(), [200, 409]);
    const arrived = await atOriginAfterMarker(clientId);
    assert.deepEqual(
      arrived.map((m) => m.payload.toString()),
      [payload],
    );
    const { body } = await api<{ items: { heldId: string }[] }>(
      running,
      accounts.viewerToken,
      'GET',
      '/api/v1/decisions',
    );
    assert.equal(body.items.filter((d) => d.heldId === heldId).length, 1, 'one decision recorded');
  });

  it('a restarted console knows every decision: nothing is decided or delivered twice', async () => {
    const clientId = device('restart');
    const { heldId, payload } = await holdInjection(clientId);
    await api(running, accounts.operatorToken, 'POST', `/api/v1/held/${heldId}/release`, {
      reason: 'before restart',
    });
    await running.stop();
    running = await startTestConsole(world, accounts, {}, { now: () => clock() });
    const { body } = await api<HeldDetail>(running, accounts.viewerToken, 'GET', `/api/v1/held/${heldId}`);
    assert.equal(body.status, 'released');
    assert.equal(body.decision?.reason, 'before restart');
    const again = await api(running, accounts.operatorToken, 'POST', `/api/v1/held/${heldId}/release`, {
      reason: 'again',
    });
    assert.equal(again.status, 409);
    const arrived = await atOriginAfterMarker(clientId);
    assert.deepEqual(
      arrived.map((m) => m.payload.toString()),
      [payload],
    );
  });

  it('a bulk decision by device decides every held message of that device, and only those', async () => {
    const first = await holdInjection(device('bulk1'));
    const second = await holdInjection(device('bulk1'));
    const other = await holdInjection(device('bulk2'));
    const { status, body } = await api<{ decided: number; skipped: number }>(
      running,
      accounts.operatorToken,
      'POST',
      '/api/v1/held/decide',
      { action: 'drop', reason: 'compromised device', client: device('bulk1') },
    );
    assert.equal(status, 200);
    assert.equal(body.decided, 2);
    for (const { heldId } of [first, second]) {
      const { body: held } = await api<HeldDetail>(
        running,
        accounts.viewerToken,
        'GET',
        `/api/v1/held/${heldId}`,
      );
      assert.equal(held.status, 'dropped');
    }
    const { body: untouched } = await api<HeldDetail>(
      running,
      accounts.viewerToken,
      'GET',
      `/api/v1/held/${other.heldId}`,
    );
    assert.equal(untouched.status, 'held');
    const unfiltered = await api(running, accounts.operatorToken, 'POST', '/api/v1/held/decide', {
      action: 'drop',
      reason: 'everything',
    });
    assert.equal(unfiltered.status, 400, 'a bulk decision needs a filter');
  });

  it('a message nobody reviewed expires past the hold time with a recorded verdict', async () => {
    const clientId = device('expire');
    const { heldId } = await holdInjection(clientId);
    const started = Date.now();
    clock = () => Date.now() + 71 * 3_600_000;
    try {
      assert.ok((await running.quarantine.expireOverdue()) >= 1);
    } finally {
      clock = Date.now;
    }
    const { body } = await api<HeldDetail>(running, accounts.viewerToken, 'GET', `/api/v1/held/${heldId}`);
    assert.equal(body.status, 'expired');
    assert.equal(body.decision?.operator, 'system');
    const verdict = await world.waitForVerdict((v) => v.eventId === heldId && v.decision === 'expired');
    assert.ok(verdict.decidedAt >= started);
    assert.deepEqual(await atOriginAfterMarker(clientId), []);
  });

  it('refuses requests without a valid token', async () => {
    const response = await fetch(`${running.url}/api/v1/held`);
    assert.equal(response.status, 401);
    const wrong = await fetch(`${running.url}/api/v1/held`, { headers: { Authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const page = await fetch(`${running.url}/quarantine`, { redirect: 'manual' });
    assert.equal(page.status, 303);
    assert.match(page.headers.get('location') ?? '', /^\/login\?next=/);
  });
});
