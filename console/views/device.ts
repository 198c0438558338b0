import type { HeldSummary, Principal, TimelineRow } from '../model.js';
import { formatTime, isoTime } from './format.js';
import { heldTable } from './held-table.js';
import { html, type SafeHtml } from './html.js';
import { layout } from './layout.js';

export interface DeviceOptions {
  readonly principal: Principal;
  readonly csrfToken: string | null;
  readonly clientId: string;
  readonly rows: readonly TimelineRow[];
  readonly held: readonly HeldSummary[];
  /** Why the timeline could not be read (forensics down...); the held messages still show. */
  readonly timelineError: string | null;
}

export function devicePage({
  principal,
  csrfToken,
  clientId,
  rows,
  held,
  timelineError,
}: DeviceOptions): SafeHtml {
  return layout({
    title: `Device ${clientId}`,
    principal,
    csrfToken,
    active: 'devices',
    body: html`<h1>Device <code>${clientId}</code></h1>
<section aria-labelledby="device-held-heading">
<h2 id="device-held-heading">Held messages</h2>
${
  held.length === 0
    ? html`<p class="none">No held messages from this device.</p>`
    : heldTable({ items: held, principal, csrfToken, caption: 'Held messages from this device' })
}
</section>
<section aria-labelledby="timeline-heading">
<h2 id="timeline-heading">Timeline</h2>
${timelineError === null ? timeline(rows) : html`<p class="error" role="alert">The timeline is unavailable: ${timelineError}</p>`}
</section>`,
  });
}

const knownKinds = new Set(['allow', 'block', 'quarantine', 'released', 'dropped', 'expired']);

function timeline(rows: readonly TimelineRow[]): SafeHtml {
  if (rows.length === 0) return html`<p class="none">Nothing recorded for this device in the window.</p>`;
  return html`<div class="table-scroll" role="region" aria-label="Timeline" tabindex="0">
<table class="timeline">
<thead><tr><th scope="col">Time</th><th scope="col">Kind</th><th scope="col">What</th><th scope="col">Topic</th><th scope="col">IP</th><th scope="col">Detail</th></tr></thead>
<tbody>
${rows.map(
  (row) => html`<tr data-event-id="${row.eventId}" class="kind-${row.kind}">
<td class="time"><time datetime="${isoTime(row.at)}">${formatTime(row.at)}</time></td>
<td>${row.kind}</td>
<td>${row.kind === 'verdict' ? decisionBadge(row.what) : row.what}</td>
<td>${row.topic === null ? html`<span class="none">—</span>` : html`<code class="topic">${row.topic}</code>`}</td>
<td>${row.ip}</td>
<td class="detail">${row.detail}</td>
</tr>`,
)}
</tbody>
</table>
</div>`;
}

/** A verdict's decision as a badge coloured by what it means; an unknown one plainly. */
export function decisionBadge(decision: string): SafeHtml {
  return html`<span class="badge decision-${knownKinds.has(decision) ? decision : 'other'}">${decision}</span>`;
}
