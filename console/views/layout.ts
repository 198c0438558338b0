import type { Principal } from '../model.js';
import { html, type SafeHtml } from './html.js';
import { queuePath } from './paths.js';

export type NavSection = 'dashboard' | 'quarantine' | 'devices';

export interface LayoutOptions {
  readonly title: string;
  readonly principal: Principal | null;
  readonly csrfToken: string | null;
  readonly active: NavSection | null;
  readonly body: SafeHtml;
}

/**
 * htmx settings for pages served under a strict Content-Security-Policy (no eval, no inline style or
 * script) whose server answers a refused decision (400, 409, 422) with a fragment to show in place.
 * Other failures are not swapped in: console.js reports them in #console-alert.
 */
const htmxConfig = {
  allowEval: false,
  allowScriptTags: false,
  includeIndicatorStyles: false,
  historyRestoreAsHxRequest: false,
  reportValidityOfForms: true,
  responseHandling: [
    { code: '^204$', swap: false },
    { code: '^[23]..$', swap: true },
    { code: '^(400|409|422)$', swap: true, error: true },
    { code: '.*', swap: false, error: true },
  ],
};

export function layout({ title, principal, csrfToken, active, body }: LayoutOptions): SafeHtml {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · MQTT Sentinel console</title>
${csrfToken === null ? null : html`<meta name="csrf-token" content="${csrfToken}">`}
<meta name="htmx-config" content="${JSON.stringify(htmxConfig)}">
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/console.css">
<script src="/static/htmx.min.js" defer></script>
<script src="/static/console.js" defer></script>
</head>
<body${csrfToken === null ? null : html` hx-headers="${JSON.stringify({ 'X-CSRF-Token': csrfToken })}"`}>
<a class="skip-link" href="#main">Skip to main content</a>
<header class="top">
<a class="brand" href="/">MQTT Sentinel</a>
${principal === null ? null : navigation(active)}
${principal === null ? null : signedIn(principal, csrfToken)}
</header>
<div id="console-alert" class="alert" role="alert" hidden></div>
<main id="main" tabindex="-1">
${body}
</main>
</body>
</html>
`;
}

function navigation(active: NavSection | null): SafeHtml {
  const link = (section: NavSection, href: string, label: string) =>
    html`<li><a href="${href}"${section === active ? html` aria-current="page"` : null}>${label}</a></li>`;
  return html`<nav class="main-nav" aria-label="Main">
<ul>
${link('dashboard', '/', 'Dashboard')}
${link('quarantine', queuePath, 'Quarantine')}
</ul>
<form class="device-lookup${active === 'devices' ? ' active' : ''}" method="get" action="/devices" role="search" aria-label="Device lookup">
<label for="device-lookup-client">Device</label>
<input id="device-lookup-client" name="client" type="search" required placeholder="client id" autocomplete="off" spellcheck="false">
<button type="submit">Look up</button>
</form>
</nav>`;
}

function signedIn(principal: Principal, csrfToken: string | null): SafeHtml {
  return html`<div class="who">
<span>Signed in as <strong>${principal.name}</strong> <span class="role role-${principal.role}">${principal.role}</span></span>
${
  csrfToken === null
    ? null
    : html`<form class="logout" method="post" action="/logout">
<input type="hidden" name="_csrf" value="${csrfToken}">
<button type="submit">Sign out</button>
</form>`
}
</div>`;
}
