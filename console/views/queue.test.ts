import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { queuePage, queueTable } from './queue.js';
import { operator, sampleCsrfToken, sampleHeld, viewer } from './sample-data.js';

const held = sampleHeld({ heldId: 'evt-1', clientId: 'sensor-1', ruleIds: ['sqli-union-select', 'xss-tag'] });
const released = sampleHeld({
  heldId: 'evt-2',
  status: 'released',
  decision: {
    decisionId: 'd-2',
    action: 'release',
    operator: 'bob',
    reason: 'false positive',
    decidedAt: Date.UTC(2026, 11, 6, 11),
  },
});
const page = { items: [held, released], total: 7 };
const filter = {
  status: 'held',
  clientId: 'sensor-1',
  ruleId: 'xss-tag',
  since: Date.UTC(2026, 11, 1, 8, 30),
  until: Date.UTC(2026, 11, 6, 23, 59, 59),
} as const;

/** The markup of the table row of one held message. */
function row(markup: string, heldId: string): string {
  const match = new RegExp(`<tr data-held-id="${heldId}">[\\s\\S]*?</tr>`).exec(markup);
  assert.ok(match, `a row for ${heldId}`);
  return match[0];
}

describe('queuePage', () => {
  const out = queuePage({ principal: operator, csrfToken: sampleCsrfToken, filter, page }).toString();

  it('has a filter form that htmx submits on change into #held-table, pushing the URL', () => {
    const form = /<form class="filters"[^>]*>/.exec(out)?.[0] ?? '';
    for (const attribute of [
      'method="get"',
      'action="/quarantine"',
      'hx-get="/quarantine"',
      'hx-target="#held-table"',
      'hx-swap="outerHTML"',
      'hx-push-url="true"',
      'hx-trigger="change, submit"',
    ])
      assert.ok(form.includes(attribute), attribute);
  });

  it('shows the current filter in labelled fields, times as UTC datetime-local', () => {
    assert.match(
      out,
      /<label for="filter-status">Status<\/label>\s*<select id="filter-status" name="status">/,
    );
    assert.match(out, /<option value="held" selected>Held<\/option>/);
    assert.equal(out.match(/ selected>/g)?.length, 1);
    assert.match(
      out,
      /<label for="filter-client">Client id<\/label>\s*<input id="filter-client" name="client" type="text" value="sensor-1"/,
    );
    assert.match(out, /<input id="filter-rule" name="rule" type="text" value="xss-tag"/);
    assert.match(
      out,
      /<input id="filter-since" name="since" type="datetime-local" step="1" value="2026-12-01T08:30:00">/,
    );
    assert.match(
      out,
      /<input id="filter-until" name="until" type="datetime-local" step="1" value="2026-12-06T23:59:59">/,
    );
  });

  it('shows each held message: time, client link, topic, rules, size, inspect link, status', () => {
    const first = row(out, 'evt-1');
    assert.match(first, /<time datetime="2026-12-06T10:31:05.123Z">2026-12-06 10:31:05.123Z<\/time>/);
    assert.match(first, /<a href="\/devices\/sensor-1">sensor-1<\/a>/);
    assert.match(first, /<code class="topic">plant\/line-2\/telemetry<\/code>/);
    assert.match(first, /<li><code>sqli-union-select<\/code><\/li><li><code>xss-tag<\/code><\/li>/);
    assert.match(first, /<td class="num">1.5 KiB<\/td>/);
    assert.match(first, /<a href="\/quarantine\/evt-1" aria-label="Inspect evt-1">Inspect<\/a>/);
    assert.match(first, /<span class="badge status-held">Held<\/span>/);
  });

  it('gives an operator release and drop forms on held rows only, each with a required labelled reason', () => {
    const first = row(out, 'evt-1');
    for (const [action, label] of [
      ['release', 'Release'],
      ['drop', 'Drop'],
    ]) {
      const form =
        new RegExp(`<form class="decide decide-${action}"[\\s\\S]*?</form>`).exec(first)?.[0] ?? '';
      assert.match(form, new RegExp(`hx-post="/quarantine/evt-1/${action}"`));
      assert.match(form, new RegExp(`method="post" action="/quarantine/evt-1/${action}"`));
      assert.match(form, /hx-target="closest .decision" hx-swap="outerHTML"/);
      assert.match(form, new RegExp(`<input type="hidden" name="_csrf" value="${sampleCsrfToken}">`));
      assert.match(
        form,
        new RegExp(
          `<label><span class="label-text">Reason</span><span class="visually-hidden"> to ${action} evt-1</span>\\s*<input name="reason" type="text" required`,
        ),
      );
      assert.match(
        form,
        new RegExp(
          `<button type="submit" class="action-${action}" aria-label="${label} evt-1" data-held-id="evt-1" data-action="${action}">${label}</button>`,
        ),
      );
    }
    const second = row(out, 'evt-2');
    assert.doesNotMatch(second, /<form|<button/);
    assert.match(second, /<span class="badge status-released">Released<\/span>/);
    assert.match(
      second,
      /Released by <strong>bob<\/strong>\s*at <time datetime="2026-12-06T11:00:00.000Z">2026-12-06 11:00:00.000Z<\/time>: <q class="reason">false positive<\/q>/,
    );
  });

  it('offers an operator a confirmed bulk decision carrying the current filter', () => {
    const bulk = /<form class="bulk"[\s\S]*?<\/form>/.exec(out)?.[0] ?? '';
    assert.match(
      bulk,
      /method="post" action="\/quarantine\/bulk" hx-post="\/quarantine\/bulk" hx-target="#held-table" hx-swap="outerHTML"/,
    );
    assert.match(bulk, /hx-confirm="Apply this decision to all 7 held messages matching the filter\?"/);
    const hidden = [...bulk.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map(
      ([, name, value]) => [name, value],
    );
    assert.deepEqual(hidden, [
      ['_csrf', sampleCsrfToken],
      ['status', 'held'],
      ['client', 'sensor-1'],
      ['rule', 'xss-tag'],
      ['since', '2026-12-01T08:30:00'],
      ['until', '2026-12-06T23:59:59'],
    ]);
    assert.match(
      bulk,
      /<select id="bulk-action" name="action"><option value="release">Release<\/option><option value="drop">Drop<\/option><\/select>/,
    );
    assert.match(
      bulk,
      /<label for="bulk-reason">Reason<\/label>\s*<input id="bulk-reason" name="reason" type="text" required/,
    );
  });

  it('offers no bulk decision unless the filter is on held messages', () => {
    const all = queueTable({ principal: operator, csrfToken: 't', filter: {}, page }).toString();
    assert.doesNotMatch(all, /class="bulk"|\/quarantine\/bulk/);
    assert.match(all, /To decide in bulk, filter on status Held./);
    assert.match(all, /Showing 2 of 7 held messages/);
  });
});

describe('queuePage for a viewer', () => {
  const out = queuePage({ principal: viewer, csrfToken: sampleCsrfToken, filter, page }).toString();

  it('shows the same rows with no decision controls', () => {
    assert.ok(row(out, 'evt-1').includes('Inspect evt-1'));
    assert.doesNotMatch(out, /hx-post|\/release"|\/drop"|class="bulk"|name="reason"|To decide in bulk/);
    assert.match(
      row(out, 'evt-1'),
      /<span class="badge status-held">Held<\/span> <span class="decision-text">awaiting an operator's decision<\/span>/,
    );
  });
});

describe('queueTable', () => {
  it('is the #held-table fragment alone, with the notice and the count', () => {
    const out = queueTable({
      principal: operator,
      csrfToken: 't',
      filter,
      page,
      notice: 'Released 3 messages.',
    }).toString();
    assert.match(out, /^<div id="held-table" class="held-results">/);
    assert.match(out, /<\/div>$/);
    assert.doesNotMatch(out, /<html|<form class="filters"/);
    assert.match(out, /<p class="notice" role="status">Released 3 messages.<\/p>/);
    assert.match(out, /Showing 2 of 7 held messages matching this filter./);
  });

  it('says so when nothing matches, and shows no table', () => {
    const out = queueTable({
      principal: operator,
      csrfToken: 't',
      filter,
      page: { items: [], total: 0 },
    }).toString();
    assert.match(out, /No held messages match this filter./);
    assert.doesNotMatch(out, /<table|class="bulk"/);
  });
});
