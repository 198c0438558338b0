import type { HeldSummary, Principal } from '../model.js';
import { decisionFragment } from './decision.js';
import { formatSize, formatTime, isoTime } from './format.js';
import { html, type SafeHtml } from './html.js';
import { devicePath, heldPath } from './paths.js';

export interface HeldTableOptions {
  readonly items: readonly HeldSummary[];
  readonly principal: Principal | null;
  readonly csrfToken: string | null;
  /** Names the table for assistive technology, e.g. "Held messages matching the filter". */
  readonly caption: string;
}

/** Held messages, one row each, with their decision (or, for an operator, its forms) in the last column. */
export function heldTable({ items, principal, csrfToken, caption }: HeldTableOptions): SafeHtml {
  return html`<div class="table-scroll" role="region" aria-label="${caption}" tabindex="0">
<table class="held">
<caption class="visually-hidden">${caption}</caption>
<thead><tr>
<th scope="col">Held</th><th scope="col">Client</th><th scope="col">Topic</th><th scope="col">Rules</th>
<th scope="col" class="num">Size</th><th scope="col"><span class="visually-hidden">Details</span></th><th scope="col">Status</th>
</tr></thead>
<tbody>
${items.map((held) => heldRow(held, principal, csrfToken))}
</tbody>
</table>
</div>`;
}

function heldRow(held: HeldSummary, principal: Principal | null, csrfToken: string | null): SafeHtml {
  return html`<tr data-held-id="${held.heldId}">
<td class="time"><time datetime="${isoTime(held.heldAt)}">${formatTime(held.heldAt)}</time></td>
<td><a href="${devicePath(held.clientId)}">${held.clientId}</a></td>
<td><code class="topic">${held.topic}</code></td>
<td>${ruleList(held.ruleIds)}</td>
<td class="num">${formatSize(held.payloadSize)}</td>
<td><a href="${heldPath(held.heldId)}" aria-label="${`Inspect ${held.heldId}`}">Inspect</a></td>
<td class="status-cell">${decisionFragment({ held, principal, csrfToken })}</td>
</tr>`;
}

export function ruleList(ruleIds: readonly string[]): SafeHtml {
  if (ruleIds.length === 0) return html`<span class="none">none</span>`;
  return html`<ul class="rules">${ruleIds.map((ruleId) => html`<li><code>${ruleId}</code></li>`)}</ul>`;
}
