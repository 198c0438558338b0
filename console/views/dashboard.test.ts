import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dashboardPage } from './dashboard.js';
import { operator } from './sample-data.js';

const offender = {
  clientId: 'cam 7/north',
  ip: '10.0.0.9',
  blocked: 12,
  quarantined: 3,
  rules: ['cmdi-shell', 'xss-tag'],
  firstSeen: Date.UTC(2026, 11, 5),
  lastSeen: Date.UTC(2026, 11, 6, 9),
};

describe('dashboardPage', () => {
  const out = dashboardPage({
    principal: operator,
    csrfToken: 't',
    offenders: [offender],
    offendersError: null,
    heldCount: 4,
  }).toString();

  it('has the live verdicts table body console.js fills from the stream', () => {
    assert.match(
      out,
      /<tbody id="verdict-stream" aria-live="polite" aria-relevant="additions" data-source="\/api\/v1\/verdicts\/stream" data-max-rows="200">/,
    );
    assert.match(
      out,
      /<p id="verdict-stream-state" class="stream-state" role="status" data-state="connecting">/,
    );
    assert.match(
      out,
      /<th scope="col">Time<\/th><th scope="col">Decision<\/th><th scope="col">Client<\/th><th scope="col">Topic<\/th><th scope="col">Rules<\/th>/,
    );
  });

  it('lists the top offenders, each client linking to its device page', () => {
    const table = /<table class="offenders">[\s\S]*?<\/table>/.exec(out)?.[0] ?? '';
    const cells = [...table.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map(([, cell]) => cell);
    assert.deepEqual(cells, [
      '<a href="/devices/cam%207%2Fnorth">cam 7/north</a>',
      '10.0.0.9',
      '12',
      '3',
      '<ul class="rules"><li><code>cmdi-shell</code></li><li><code>xss-tag</code></li></ul>',
      '<time datetime="2026-12-05T00:00:00.000Z">2026-12-05 00:00:00.000Z</time>',
      '<time datetime="2026-12-06T09:00:00.000Z">2026-12-06 09:00:00.000Z</time>',
    ]);
  });

  it('counts the held messages and links to the queue of held ones', () => {
    assert.match(
      out,
      /<a href="\/quarantine\?status=held"><strong data-held-count="4">4<\/strong> held messages<\/a> await an operator's decision./,
    );
    const one = dashboardPage({
      principal: operator,
      csrfToken: 't',
      offenders: [],
      offendersError: null,
      heldCount: 1,
    }).toString();
    assert.match(one, /1<\/strong> held message<\/a> awaits/);
    assert.match(one, /No offenders in the window./);
  });

  it('says why the offenders are missing, and still shows the rest', () => {
    const failed = dashboardPage({
      principal: operator,
      csrfToken: 't',
      offenders: [],
      offendersError: 'ClickHouse timed out',
      heldCount: 0,
    }).toString();
    assert.match(
      failed,
      /<p class="error" role="alert">Top offenders are unavailable: ClickHouse timed out<\/p>/,
    );
    assert.doesNotMatch(failed, /class="offenders"/);
    assert.match(failed, /id="verdict-stream"/);
  });
});
