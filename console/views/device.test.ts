import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TimelineRow } from '../model.js';
import { devicePage } from './device.js';
import { operator, sampleHeld, viewer } from './sample-data.js';

const rows: TimelineRow[] = [
  {
    at: Date.UTC(2026, 11, 6, 10),
    kind: 'packet',
    eventId: 'e1',
    what: 'PUBLISH',
    topic: 'a/b',
    ip: '10.0.0.1',
    detail: 'qos 1, 42 bytes',
  },
  {
    at: Date.UTC(2026, 11, 6, 10, 0, 1),
    kind: 'verdict',
    eventId: 'e1',
    what: 'quarantine',
    topic: 'a/b',
    ip: '10.0.0.1',
    detail: 'sqli-union-select',
  },
  {
    at: Date.UTC(2026, 11, 6, 10, 0, 2),
    kind: 'packet',
    eventId: 'e2',
    what: 'PINGREQ',
    topic: null,
    ip: '10.0.0.1',
    detail: '',
  },
];

describe('devicePage', () => {
  const out = devicePage({
    principal: operator,
    csrfToken: 't',
    clientId: 'sensor-17',
    rows,
    held: [sampleHeld()],
    timelineError: null,
  }).toString();

  it('names the device and marks the devices section', () => {
    assert.match(out, /<h1>Device <code>sensor-17<\/code><\/h1>/);
    assert.match(out, /<title>Device sensor-17 · MQTT Sentinel console<\/title>/);
    assert.match(out, /<form class="device-lookup active"/);
  });

  it('lists its held messages with their decision controls for an operator', () => {
    assert.match(out, /<tr data-held-id="evt-0001">/);
    assert.match(out, /aria-label="Release evt-0001"/);
    const forViewer = devicePage({
      principal: viewer,
      csrfToken: 't',
      clientId: 'sensor-17',
      rows,
      held: [sampleHeld()],
      timelineError: null,
    }).toString();
    assert.match(forViewer, /<tr data-held-id="evt-0001">/);
    assert.doesNotMatch(forViewer, /aria-label="Release/);
  });

  it('shows the timeline: time, kind, what, topic, ip, detail', () => {
    const table = /<table class="timeline">[\s\S]*?<\/table>/.exec(out)?.[0] ?? '';
    const lines = [...table.matchAll(/<tr data-event-id="[^"]*" class="kind-[a-z]+">([\s\S]*?)<\/tr>/g)].map(
      ([, row]) => [...(row ?? '').matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map(([, cell]) => cell),
    );
    assert.deepEqual(lines, [
      [
        '<time datetime="2026-12-06T10:00:00.000Z">2026-12-06 10:00:00.000Z</time>',
        'packet',
        'PUBLISH',
        '<code class="topic">a/b</code>',
        '10.0.0.1',
        'qos 1, 42 bytes',
      ],
      [
        '<time datetime="2026-12-06T10:00:01.000Z">2026-12-06 10:00:01.000Z</time>',
        'verdict',
        '<span class="badge decision-quarantine">quarantine</span>',
        '<code class="topic">a/b</code>',
        '10.0.0.1',
        'sqli-union-select',
      ],
      [
        '<time datetime="2026-12-06T10:00:02.000Z">2026-12-06 10:00:02.000Z</time>',
        'packet',
        'PINGREQ',
        '<span class="none">—</span>',
        '10.0.0.1',
        '',
      ],
    ]);
  });

  it('says when there is nothing held or the timeline is unavailable', () => {
    const failed = devicePage({
      principal: operator,
      csrfToken: 't',
      clientId: 'x',
      rows: [],
      held: [],
      timelineError: 'forensics down',
    }).toString();
    assert.match(failed, /No held messages from this device./);
    assert.match(failed, /<p class="error" role="alert">The timeline is unavailable: forensics down<\/p>/);
    const empty = devicePage({
      principal: operator,
      csrfToken: 't',
      clientId: 'x',
      rows: [],
      held: [],
      timelineError: null,
    }).toString();
    assert.match(empty, /Nothing recorded for this device in the window./);
  });
});
