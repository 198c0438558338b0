import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decisionFragment, detailPage } from './detail.js';
import { operator, sampleCsrfToken, sampleDetail, sampleHeld, viewer } from './sample-data.js';

const held = sampleDetail();

describe('detailPage', () => {
  const text = detailPage({ principal: operator, csrfToken: sampleCsrfToken, held, view: 'text' }).toString();

  it('shows the metadata', () => {
    const meta = /<dl class="meta">[\s\S]*?<\/dl>/.exec(text)?.[0] ?? '';
    const entries = [...meta.matchAll(/<dt>([^<]+)<\/dt><dd>([\s\S]*?)<\/dd>/g)].map(([, term, value]) => [
      term,
      value,
    ]);
    assert.deepEqual(entries, [
      ['Client', '<a href="/devices/sensor-17">sensor-17</a>'],
      ['User', 'line2-gateway'],
      ['Source IP', '10.20.0.17'],
      ['Proxy', 'edge-a'],
      ['Topic', '<code class="topic">plant/line-2/telemetry</code>'],
      ['QoS', '1'],
      ['Retain', 'no'],
      ['Received', '<time datetime="2026-12-06T10:31:05.083Z">2026-12-06 10:31:05.083Z</time>'],
      ['Held', '<time datetime="2026-12-06T10:31:05.123Z">2026-12-06 10:31:05.123Z</time>'],
      ['Packet', '<code>sentinel.packets / partition 3 / offset 41207</code>'],
    ]);
  });

  it('lists the findings', () => {
    const findings = /<table class="findings">[\s\S]*?<\/table>/.exec(text)?.[0] ?? '';
    const cells = [...findings.matchAll(/<td>([\s\S]*?)<\/td>/g)].map(([, cell]) => cell);
    assert.deepEqual(cells, [
      '<code>sqli-union-select</code>',
      'sqli',
      '<span class="badge severity-high">high</span>',
      'patterns',
      '<code>payload.json:$.cmd</code>',
      '<code class="evidence">UNION SELECT</code>',
    ]);
  });

  it('switches payload views by links, the current one marked', () => {
    assert.match(
      text,
      /<a href="\/quarantine\/evt-0001\?view=text" aria-current="page">Text<\/a><\/li>\s*<li><a href="\/quarantine\/evt-0001\?view=json">JSON<\/a><\/li>\s*<li><a href="\/quarantine\/evt-0001\?view=hex">Hex<\/a>/,
    );
  });

  it('marks the evidence in the text view', () => {
    assert.match(
      text,
      /<pre class="payload payload-text" tabindex="0">\{&quot;cmd&quot;:&quot;1 <mark data-rule="sqli-union-select" title="Matched by sqli-union-select">UNION SELECT<\/mark> password FROM users&quot;\}<\/pre>/,
    );
  });

  it('shows pretty JSON, or says the payload is not JSON', () => {
    const json = detailPage({ principal: operator, csrfToken: 't', held, view: 'json' }).toString();
    assert.match(
      json,
      /<pre class="payload payload-json" tabindex="0">\{\n {2}&quot;cmd&quot;: &quot;1 UNION SELECT password FROM users&quot;\n\}<\/pre>/,
    );
    assert.match(json, /href="\/quarantine\/evt-0001\?view=json" aria-current="page"/);
    const notJson = sampleDetail({ payload: { ...held.payload, json: null } });
    assert.match(
      detailPage({ principal: operator, csrfToken: 't', held: notJson, view: 'json' }).toString(),
      /<p class="note">The payload is not JSON.<\/p>/,
    );
  });

  it('shows the hex dump, and points a binary payload to it from the text view', () => {
    const hex = detailPage({ principal: operator, csrfToken: 't', held, view: 'hex' }).toString();
    assert.match(
      hex,
      /<pre class="payload payload-hex" tabindex="0">00000000 {2}7b 22 63 6d[^<]*\|\{&quot;cmd&quot;:&quot;1 UNION \|<\/pre>/,
    );
    const binary = sampleDetail({ payload: { ...held.payload, text: null, json: null, highlights: [] } });
    const out = detailPage({ principal: operator, csrfToken: 't', held: binary, view: 'text' }).toString();
    assert.match(out, /not valid UTF-8 text: read it in the hex view/);
    assert.doesNotMatch(out, /payload-text/);
  });

  it('puts the decision forms in the page for an operator, none for a viewer', () => {
    assert.match(text, /<button type="submit" class="action-release" aria-label="Release evt-0001"/);
    assert.match(text, /<button type="submit" class="action-drop" aria-label="Drop evt-0001"/);
    const forViewer = detailPage({ principal: viewer, csrfToken: 't', held, view: 'text' }).toString();
    assert.doesNotMatch(forViewer, /hx-post|name="reason"/);
    assert.match(forViewer, /awaiting an operator's decision/);
  });

  it('shows who decided what, when and why once decided', () => {
    const decided = sampleDetail({
      status: 'dropped',
      decision: {
        decisionId: 'd',
        action: 'drop',
        operator: 'alice',
        reason: 'exploit attempt',
        decidedAt: Date.UTC(2026, 11, 6, 12),
      },
    });
    const out = detailPage({ principal: operator, csrfToken: 't', held: decided, view: 'text' }).toString();
    assert.match(
      out,
      /<p class="decision-status" role="status"><span class="badge status-dropped">Dropped<\/span> <span class="decision-text">Dropped by <strong>alice<\/strong>\s*at <time datetime="2026-12-06T12:00:00.000Z">2026-12-06 12:00:00.000Z<\/time>: <q class="reason">exploit attempt<\/q><\/span><\/p>/,
    );
    assert.doesNotMatch(out, /hx-post/);
  });
});

describe('decisionFragment', () => {
  const decided = sampleHeld({
    status: 'released',
    decision: {
      decisionId: 'd',
      action: 'release',
      operator: 'alice',
      reason: 'sensor recalibration',
      decidedAt: 0,
    },
  });

  it('is the same markup in the page and as the answer to a decision', () => {
    const fragment = decisionFragment({ held: decided, principal: operator, csrfToken: 't' }).toString();
    const page = detailPage({
      principal: operator,
      csrfToken: 't',
      held: { ...sampleDetail(), ...decided },
      view: 'text',
    }).toString();
    assert.ok(page.includes(fragment));
    assert.match(fragment, /^<div class="decision" data-held-id="evt-0001" data-status="released">/);
    assert.match(
      fragment,
      /role="status"><span class="badge status-released">Released<\/span> <span class="decision-text">Released by <strong>alice<\/strong>/,
    );
    assert.match(fragment, /<q class="reason">sensor recalibration<\/q>/);
    assert.doesNotMatch(fragment, /<form/);
  });

  it('shows a refusal as an alert, keeping the forms while the message is still held', () => {
    const fragment = decisionFragment({
      held: sampleHeld(),
      principal: operator,
      csrfToken: 't',
      error: 'A reason is required.',
    }).toString();
    assert.match(fragment, /<p class="error" role="alert">A reason is required.<\/p>/);
    assert.equal(fragment.match(/<form class="decide/g)?.length, 2);
  });

  it('offers no forms without a CSRF token or to a viewer', () => {
    assert.doesNotMatch(
      decisionFragment({ held: sampleHeld(), principal: operator, csrfToken: null }).toString(),
      /<form/,
    );
    assert.doesNotMatch(
      decisionFragment({ held: sampleHeld(), principal: viewer, csrfToken: 't' }).toString(),
      /<form/,
    );
  });

  it('says an expiry was the system, not an operator', () => {
    const expired = sampleHeld({
      status: 'expired',
      decision: {
        decisionId: 'd',
        action: 'expire',
        operator: 'system',
        reason: 'not reviewed within 72h',
        decidedAt: 0,
      },
    });
    assert.match(
      decisionFragment({ held: expired, principal: operator, csrfToken: 't' }).toString(),
      /Expired by <strong>system<\/strong>/,
    );
  });
});
