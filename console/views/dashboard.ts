import type { OffenderRow, Principal } from '../model.js';
import { formatTime, isoTime } from './format.js';
import { ruleList } from './held-table.js';
import { html, type SafeHtml } from './html.js';
import { layout } from './layout.js';
import { devicePath, queuePath, verdictStreamPath } from './paths.js';

export interface DashboardOptions {
  readonly principal: Principal;
  readonly csrfToken: string | null;
  readonly offenders: readonly OffenderRow[];
  /** Why the top offenders could not be read (forensics down...); the rest of the page still works. */
  readonly offendersError: string | null;
  readonly heldCount: number;
}

/** Rows console.js keeps in the live table; older ones drop off the bottom. */
export const liveVerdictRows = 200;

export function dashboardPage({
  principal,
  csrfToken,
  offenders,
  offendersError,
  heldCount,
}: DashboardOptions): SafeHtml {
  return layout({
    title: 'Dashboard',
    principal,
    csrfToken,
    active: 'dashboard',
    body: html`<h1>Dashboard</h1>
<section class="held-count" aria-labelledby="held-count-heading">
<h2 id="held-count-heading">Awaiting review</h2>
<p><a href="${queuePath}?status=held"><strong data-held-count="${heldCount}">${heldCount}</strong> held ${heldCount === 1 ? 'message' : 'messages'}</a> ${heldCount === 1 ? 'awaits' : 'await'} an operator's decision.</p>
</section>
<section aria-labelledby="live-heading">
<h2 id="live-heading">Live verdicts</h2>
<p id="verdict-stream-state" class="stream-state" role="status" data-state="connecting">Connecting to the live stream…</p>
<div class="table-scroll" role="region" aria-labelledby="live-heading" tabindex="0">
<table class="verdicts">
<thead><tr><th scope="col">Time</th><th scope="col">Decision</th><th scope="col">Client</th><th scope="col">Topic</th><th scope="col">Rules</th></tr></thead>
<tbody id="verdict-stream" aria-live="polite" aria-relevant="additions" data-source="${verdictStreamPath}" data-max-rows="${liveVerdictRows}">
<tr class="placeholder"><td colspan="5">No verdicts yet.</td></tr>
</tbody>
</table>
</div>
</section>
<section aria-labelledby="offenders-heading">
<h2 id="offenders-heading">Top offenders</h2>
${offendersError === null ? offendersTable(offenders) : html`<p class="error" role="alert">Top offenders are unavailable: ${offendersError}</p>`}
</section>`,
  });
}

function offendersTable(offenders: readonly OffenderRow[]): SafeHtml {
  if (offenders.length === 0) return html`<p class="none">No offenders in the window.</p>`;
  const time = (ms: number) => html`<time datetime="${isoTime(ms)}">${formatTime(ms)}</time>`;
  return html`<div class="table-scroll" role="region" aria-labelledby="offenders-heading" tabindex="0">
<table class="offenders">
<thead><tr><th scope="col">Client</th><th scope="col">IP</th><th scope="col" class="num">Blocked</th><th scope="col" class="num">Quarantined</th><th scope="col">Rules</th><th scope="col">First seen</th><th scope="col">Last seen</th></tr></thead>
<tbody>
${offenders.map(
  (row) => html`<tr>
<td><a href="${devicePath(row.clientId)}">${row.clientId}</a></td>
<td>${row.ip}</td>
<td class="num">${row.blocked}</td>
<td class="num">${row.quarantined}</td>
<td>${ruleList(row.rules)}</td>
<td class="time">${time(row.firstSeen)}</td>
<td class="time">${time(row.lastSeen)}</td>
</tr>`,
)}
</tbody>
</table>
</div>`;
}
