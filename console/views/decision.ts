import type { QuarantineAction } from '../../schemas/types.generated.js';
import type { DecisionView, HeldStatus, HeldSummary, Principal } from '../model.js';
import { formatTime, isoTime } from './format.js';
import { html, type SafeHtml } from './html.js';
import { decisionPath } from './paths.js';

/** The longest reason the decision forms accept; the server should refuse longer ones the same way. */
export const reasonMaxLength = 500;

export interface DecisionFragmentOptions {
  readonly held: HeldSummary;
  readonly principal: Principal | null;
  readonly csrfToken: string | null;
  /** Why the last decision was refused (missing reason, decided meanwhile by someone else...). */
  readonly error?: string;
}

export type ReviewAction = Exclude<QuarantineAction, 'expire'>;

const statusLabel: Readonly<Record<HeldStatus, string>> = {
  held: 'Held',
  released: 'Released',
  dropped: 'Dropped',
  expired: 'Expired',
};

const actionLabel: Readonly<Record<ReviewAction, string>> = { release: 'Release', drop: 'Drop' };

export function statusBadge(status: HeldStatus): SafeHtml {
  return html`<span class="badge status-${status}">${statusLabel[status]}</span>`;
}

/**
 * A held message's status and decision: what the pages show and what the server answers a decision
 * with, so an htmx swap (`closest .decision`, outerHTML) leaves the page as a reload would. An
 * operator sees the release and drop forms while the message is held.
 */
export function decisionFragment({ held, principal, csrfToken, error }: DecisionFragmentOptions): SafeHtml {
  const canDecide = held.status === 'held' && principal?.role === 'operator' && csrfToken !== null;
  return html`<div class="decision" data-held-id="${held.heldId}" data-status="${held.status}">
<p class="decision-status" role="status">${statusBadge(held.status)} ${decisionText(held)}</p>
${error === undefined ? null : html`<p class="error" role="alert">${error}</p>`}
${
  canDecide
    ? html`<div class="decide-forms">
${decisionForm(held.heldId, 'release', csrfToken)}
${decisionForm(held.heldId, 'drop', csrfToken)}
</div>`
    : null
}
</div>`;
}

function decisionText(held: HeldSummary): SafeHtml {
  if (held.decision === null) {
    return held.status === 'held'
      ? html`<span class="decision-text">awaiting an operator's decision</span>`
      : html`<span class="decision-text">no decision record</span>`;
  }
  return decided(held.decision);
}

const pastTense: Readonly<Record<QuarantineAction, string>> = {
  release: 'Released',
  drop: 'Dropped',
  expire: 'Expired',
};

function decided(decision: DecisionView): SafeHtml {
  return html`<span class="decision-text">${pastTense[decision.action]} by <strong>${decision.operator}</strong>
at <time datetime="${isoTime(decision.decidedAt)}">${formatTime(decision.decidedAt)}</time>${
    decision.reason === '' ? null : html`: <q class="reason">${decision.reason}</q>`
  }</span>`;
}

/** One action on one held message: a required reason and a button named after both. */
export function decisionForm(heldId: string, action: ReviewAction, csrfToken: string): SafeHtml {
  const path = decisionPath(heldId, action);
  return html`<form class="decide decide-${action}" method="post" action="${path}" hx-post="${path}" hx-target="closest .decision" hx-swap="outerHTML" hx-disabled-elt="find button">
<input type="hidden" name="_csrf" value="${csrfToken}">
<label><span class="label-text">Reason</span><span class="visually-hidden"> to ${action} ${heldId}</span>
<input name="reason" type="text" required maxlength="${reasonMaxLength}" autocomplete="off"></label>
<button type="submit" class="action-${action}" aria-label="${actionLabel[action]} ${heldId}" data-held-id="${heldId}" data-action="${action}">${actionLabel[action]}</button>
</form>`;
}
