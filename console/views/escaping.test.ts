import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dashboardPage } from './dashboard.js';
import { detailPage } from './detail.js';
import { devicePage } from './device.js';
import type { SafeHtml } from './html.js';
import { loginPage } from './login.js';
import { queuePage } from './queue.js';
import { operator, sampleDetail, sampleHeld } from './sample-data.js';

/** Closes any attribute, then opens a script and an element with a handler. */
const hostile = `"'><script>alert(1)</script><img src=x onerror=alert(2)>`;
const escaped = '&quot;&#39;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;';

const principal = { name: hostile, role: 'operator', via: 'session' } as const;

function assertInert(page: SafeHtml, where: string) {
  const out = page.toString();
  assert.deepEqual(
    out.match(/<script[^>]*>/g),
    ['<script src="/static/htmx.min.js" defer>', '<script src="/static/console.js" defer>'],
    `${where}: only the console's own scripts`,
  );
  assert.doesNotMatch(out, /<img/, `${where}: no injected element`);
  assert.ok(out.includes(escaped), `${where}: the hostile text shows, escaped`);
}

describe('every page escapes what devices and operators sent', () => {
  const held = sampleHeld({
    heldId: hostile,
    clientId: hostile,
    topic: hostile,
    ruleIds: [hostile],
    sourceIp: hostile,
  });
  const decided = sampleHeld({
    heldId: 'evt-2',
    status: 'dropped',
    decision: { decisionId: 'd1', action: 'drop', operator: hostile, reason: hostile, decidedAt: 1 },
  });

  it('the queue: client id, topic, rules, held id, decision', () => {
    assertInert(
      queuePage({
        principal,
        csrfToken: hostile,
        filter: { status: 'held', clientId: hostile, ruleId: hostile },
        page: { items: [held, decided], total: 2 },
        notice: hostile,
      }),
      'queue',
    );
  });

  for (const view of ['text', 'json', 'hex'] as const) {
    it(`the detail page, ${view} view: metadata, findings, payload`, () => {
      const text = `{"cmd":${JSON.stringify(hostile)}}`;
      const detail = sampleDetail({
        ...held,
        username: hostile,
        proxyId: hostile,
        packetRef: { topic: hostile, partition: 0, offset: 1 },
        findings: [
          {
            ...sampleDetail().findings[0]!,
            evidence: hostile,
            location: hostile,
            class: hostile,
            severity: hostile,
          },
        ],
        payload: {
          size: text.length,
          base64: '',
          text,
          json: JSON.stringify(JSON.parse(text), null, 2),
          hex: `00000000  ...  |${hostile}|`,
          highlights: [{ start: 8, end: 20, ruleId: hostile }],
        },
      });
      const page = detailPage({ principal, csrfToken: hostile, held: detail, view });
      assertInert(page, `detail ${view}`);
      if (view === 'text') assert.match(page.toString(), /<mark data-rule="&quot;&#39;&gt;&lt;script&gt;/);
    });
  }

  it('the device page: client id, held messages, timeline, error', () => {
    const row = {
      at: 1,
      kind: 'verdict',
      eventId: hostile,
      what: hostile,
      topic: hostile,
      ip: hostile,
      detail: hostile,
    } as const;
    assertInert(
      devicePage({
        principal,
        csrfToken: hostile,
        clientId: hostile,
        rows: [row],
        held: [held],
        timelineError: null,
      }),
      'device',
    );
    assertInert(
      devicePage({ principal, csrfToken: null, clientId: 'c', rows: [], held: [], timelineError: hostile }),
      'device error',
    );
  });

  it('the dashboard: offenders, error', () => {
    const offender = {
      clientId: hostile,
      ip: hostile,
      blocked: 1,
      quarantined: 2,
      rules: [hostile],
      firstSeen: 0,
      lastSeen: 1,
    };
    assertInert(
      dashboardPage({
        principal,
        csrfToken: hostile,
        offenders: [offender],
        offendersError: null,
        heldCount: 3,
      }),
      'dashboard',
    );
    assertInert(
      dashboardPage({
        principal: operator,
        csrfToken: 't',
        offenders: [],
        offendersError: hostile,
        heldCount: 0,
      }),
      'dashboard error',
    );
  });

  it('the login page: error and next', () => {
    assertInert(loginPage({ error: hostile, next: hostile }), 'login');
  });

  it('puts ids in links as one encoded path segment', () => {
    const out = queuePage({
      principal,
      csrfToken: 't',
      filter: {},
      page: { items: [sampleHeld({ heldId: '../x?y#z', clientId: 'a/b c' })], total: 1 },
    }).toString();
    assert.ok(out.includes('href="/devices/a%2Fb%20c"'));
    assert.ok(out.includes('href="/quarantine/..%2Fx%3Fy%23z"'));
    assert.ok(out.includes('hx-post="/quarantine/..%2Fx%3Fy%23z/release"'));
  });
});
