import { type HeldFilter, type HeldPage, heldStatuses, type Principal } from '../model.js';
import { reasonMaxLength } from './decision.js';
import { datetimeLocalValue } from './format.js';
import { heldTable } from './held-table.js';
import { html, type SafeHtml } from './html.js';
import { layout } from './layout.js';
import { bulkDecisionPath, queuePath } from './paths.js';

export interface QueueOptions {
  readonly principal: Principal;
  readonly csrfToken: string | null;
  readonly filter: HeldFilter;
  readonly page: HeldPage;
  /** The outcome of the last action (a bulk decision), announced above the table. */
  readonly notice?: string;
}

export function queuePage(options: QueueOptions): SafeHtml {
  return layout({
    title: 'Quarantine',
    principal: options.principal,
    csrfToken: options.csrfToken,
    active: 'quarantine',
    body: html`<h1>Quarantine</h1>
${filterForm(options.filter)}
${queueTable(options)}`,
  });
}

/**
 * The filter's fields, as the filter form and the bulk form send them (GET query or POST body):
 * status (all|held|released|dropped|expired), client, rule, since, until (datetime-local, UTC).
 * An empty field is no constraint.
 */
function filterFields(filter: HeldFilter) {
  return {
    status: filter.status ?? 'all',
    client: filter.clientId ?? '',
    rule: filter.ruleId ?? '',
    since: datetimeLocalValue(filter.since),
    until: datetimeLocalValue(filter.until),
  };
}

function filterForm(filter: HeldFilter): SafeHtml {
  const fields = filterFields(filter);
  const option = (value: string, label: string) =>
    html`<option value="${value}"${value === fields.status ? html` selected` : null}>${label}</option>`;
  return html`<form class="filters" method="get" action="${queuePath}" role="search" aria-label="Filter held messages"
 hx-get="${queuePath}" hx-target="#held-table" hx-swap="outerHTML" hx-push-url="true" hx-trigger="change, submit" hx-sync="this:replace">
<div class="field"><label for="filter-status">Status</label>
<select id="filter-status" name="status">
${option('all', 'All')}
${heldStatuses.map((status) => option(status, status[0]!.toUpperCase() + status.slice(1)))}
</select></div>
<div class="field"><label for="filter-client">Client id</label>
<input id="filter-client" name="client" type="text" value="${fields.client}" autocomplete="off" spellcheck="false"></div>
<div class="field"><label for="filter-rule">Rule</label>
<input id="filter-rule" name="rule" type="text" value="${fields.rule}" autocomplete="off" spellcheck="false"></div>
<div class="field"><label for="filter-since">Held since (UTC)</label>
<input id="filter-since" name="since" type="datetime-local" step="1" value="${fields.since}"></div>
<div class="field"><label for="filter-until">Held until (UTC)</label>
<input id="filter-until" name="until" type="datetime-local" step="1" value="${fields.until}"></div>
<div class="field"><button type="submit">Apply filter</button></div>
</form>`;
}

/** The part of the queue page the filter form (and a bulk decision) replaces: `#held-table`. */
export function queueTable({ principal, csrfToken, filter, page, notice }: QueueOptions): SafeHtml {
  const shown = page.items.length;
  return html`<div id="held-table" class="held-results">
${notice === undefined ? null : html`<p class="notice" role="status">${notice}</p>`}
<p class="count">${
    page.total === 0
      ? 'No held messages match this filter.'
      : `Showing ${shown} of ${page.total} held ${page.total === 1 ? 'message' : 'messages'} matching this filter.`
  }</p>
${principal.role === 'operator' && csrfToken !== null ? bulkForm(filter, page.total, csrfToken) : null}
${shown === 0 ? null : heldTable({ items: page.items, principal, csrfToken, caption: 'Held messages matching the filter' })}
</div>`;
}

/** Decides every held message the current filter matches; only offered when the filter is on held ones. */
function bulkForm(filter: HeldFilter, total: number, csrfToken: string): SafeHtml | null {
  if (filter.status !== 'held') {
    return html`<p class="hint">To decide in bulk, filter on status Held.</p>`;
  }
  if (total === 0) return null;
  const fields = filterFields(filter);
  const question = `Apply this decision to all ${total} held ${total === 1 ? 'message' : 'messages'} matching the filter?`;
  return html`<form class="bulk" method="post" action="${bulkDecisionPath}" hx-post="${bulkDecisionPath}" hx-target="#held-table" hx-swap="outerHTML" hx-confirm="${question}" hx-disabled-elt="find button" aria-label="Decide in bulk">
<input type="hidden" name="_csrf" value="${csrfToken}">
${Object.entries(fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
<div class="field"><label for="bulk-action">Decision for all ${total}</label>
<select id="bulk-action" name="action"><option value="release">Release</option><option value="drop">Drop</option></select></div>
<div class="field"><label for="bulk-reason">Reason</label>
<input id="bulk-reason" name="reason" type="text" required maxlength="${reasonMaxLength}" autocomplete="off"></div>
<div class="field"><button type="submit" data-action="bulk">Decide all matching</button></div>
</form>`;
}
