import type { Finding } from '../../schemas/types.generated.js';
import type { HeldDetail, PayloadView, Principal } from '../model.js';
import { decisionFragment } from './decision.js';
import { formatSize, formatTime, isoTime } from './format.js';
import { highlightedText } from './highlight.js';
import { html, type SafeHtml } from './html.js';
import { layout } from './layout.js';
import { devicePath, heldPath, queuePath } from './paths.js';

export { decisionFragment } from './decision.js';

export type PayloadViewKind = 'text' | 'json' | 'hex';

export const payloadViewKinds: readonly PayloadViewKind[] = ['text', 'json', 'hex'];

export interface DetailOptions {
  readonly principal: Principal;
  readonly csrfToken: string | null;
  readonly held: HeldDetail;
  readonly view: PayloadViewKind;
}

export function detailPage({ principal, csrfToken, held, view }: DetailOptions): SafeHtml {
  return layout({
    title: `Held message ${held.heldId}`,
    principal,
    csrfToken,
    active: 'quarantine',
    body: html`<nav class="breadcrumb" aria-label="Breadcrumb"><a href="${queuePath}">Quarantine</a> › <span aria-current="page">${held.heldId}</span></nav>
<h1>Held message <code>${held.heldId}</code></h1>
<section aria-labelledby="decision-heading">
<h2 id="decision-heading">Decision</h2>
${decisionFragment({ held, principal, csrfToken })}
</section>
<section aria-labelledby="message-heading">
<h2 id="message-heading">Message</h2>
${metadata(held)}
</section>
<section aria-labelledby="findings-heading">
<h2 id="findings-heading">Findings</h2>
${findingsTable(held.findings)}
</section>
<section aria-labelledby="payload-heading">
<h2 id="payload-heading">Payload <span class="subtle">(${formatSize(held.payload.size)})</span></h2>
${viewSwitch(held.heldId, view)}
${payloadBody(held.payload, view)}
</section>`,
  });
}

function metadata(held: HeldDetail): SafeHtml {
  const time = (ms: number) => html`<time datetime="${isoTime(ms)}">${formatTime(ms)}</time>`;
  const entry = (term: string, value: SafeHtml | string) => html`<dt>${term}</dt><dd>${value}</dd>`;
  const ref = held.packetRef;
  return html`<dl class="meta">
${entry('Client', html`<a href="${devicePath(held.clientId)}">${held.clientId}</a>`)}
${entry('User', held.username === null ? html`<span class="none">none</span>` : held.username)}
${entry('Source IP', held.sourceIp)}
${entry('Proxy', held.proxyId)}
${entry('Topic', html`<code class="topic">${held.topic}</code>`)}
${entry('QoS', String(held.qos))}
${entry('Retain', held.retain ? 'yes' : 'no')}
${entry('Received', time(held.receivedAt))}
${entry('Held', time(held.heldAt))}
${entry('Packet', html`<code>${ref.topic} / partition ${ref.partition} / offset ${ref.offset}</code>`)}
</dl>`;
}

const severities = new Set(['critical', 'high', 'medium', 'low']);

function findingsTable(findings: readonly Finding[]): SafeHtml {
  if (findings.length === 0) return html`<p class="none">No findings recorded.</p>`;
  return html`<div class="table-scroll" role="region" aria-label="Findings" tabindex="0">
<table class="findings">
<thead><tr><th scope="col">Rule</th><th scope="col">Class</th><th scope="col">Severity</th><th scope="col">Stage</th><th scope="col">Location</th><th scope="col">Evidence</th></tr></thead>
<tbody>
${findings.map(
  (finding) => html`<tr>
<td><code>${finding.ruleId}</code>${finding.shadow ? html` <span class="badge shadow" title="Recorded only: did not change the decision">shadow</span>` : null}</td>
<td>${finding.class}</td>
<td><span class="badge severity-${severities.has(finding.severity) ? finding.severity : 'other'}">${finding.severity}</span></td>
<td>${finding.stage}</td>
<td><code>${finding.location}</code></td>
<td><code class="evidence">${finding.evidence}</code></td>
</tr>`,
)}
</tbody>
</table>
</div>`;
}

const viewLabel: Readonly<Record<PayloadViewKind, string>> = { text: 'Text', json: 'JSON', hex: 'Hex' };

function viewSwitch(heldId: string, current: PayloadViewKind): SafeHtml {
  return html`<nav class="view-switch" aria-label="Payload view"><ul>
${payloadViewKinds.map(
  (kind) =>
    html`<li><a href="${`${heldPath(heldId)}?view=${kind}`}"${kind === current ? html` aria-current="page"` : null}>${viewLabel[kind]}</a></li>`,
)}
</ul></nav>`;
}

function payloadBody(payload: PayloadView, view: PayloadViewKind): SafeHtml {
  switch (view) {
    case 'text':
      if (payload.text === null) {
        return html`<p class="note">The payload is not valid UTF-8 text: read it in the hex view.</p>`;
      }
      return html`${
        payload.highlights.length === 0
          ? null
          : html`<p class="note">Where the findings matched is <mark>marked</mark>.</p>`
      }<pre class="payload payload-text" tabindex="0">${highlightedText(payload.text, payload.highlights)}</pre>`;
    case 'json':
      return payload.json === null
        ? html`<p class="note">The payload is not JSON.</p>`
        : html`<pre class="payload payload-json" tabindex="0">${payload.json}</pre>`;
    case 'hex':
      return html`<pre class="payload payload-hex" tabindex="0">${payload.hex}</pre>`;
  }
}
