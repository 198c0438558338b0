import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { html } from './html.js';
import { layout } from './layout.js';
import { loginPage } from './login.js';
import { operator, viewer } from './sample-data.js';

/** An attribute's value as the browser reads it (the page escapes with these five entities only). */
function attribute(markup: string, element: string, name: string): string | undefined {
  const tag = new RegExp(`<${element}[^>]*?\\s${name}="([^"]*)"`).exec(markup);
  return tag?.[1]
    ?.replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');
}

describe('layout', () => {
  const token = `a"b'c<d>&e\\f`;
  const page = layout({
    title: 'Quarantine',
    principal: operator,
    csrfToken: token,
    active: 'quarantine',
    body: html`<p id="content">hello</p>`,
  }).toString();

  it('carries the CSRF token in a meta tag and as htmx headers, intact through both escapings', () => {
    assert.equal(attribute(page, 'meta name="csrf-token"', 'content'), token);
    assert.deepEqual(JSON.parse(attribute(page, 'body', 'hx-headers') ?? 'null'), { 'X-CSRF-Token': token });
  });

  it('signs out with a POST form that carries the token', () => {
    const logout =
      /<form class="logout" method="post" action="\/logout">([\s\S]*?)<\/form>/.exec(page)?.[1] ?? '';
    assert.equal(attribute(logout, 'input type="hidden" name="_csrf"', 'value'), token);
    assert.match(logout, /<button type="submit">Sign out<\/button>/);
  });

  it('says who is signed in, with the role', () => {
    assert.match(
      page,
      /Signed in as <strong>alice<\/strong> <span class="role role-operator">operator<\/span>/,
    );
  });

  it('marks the active section and offers the device lookup (GET /devices, field client)', () => {
    assert.match(page, /<a href="\/quarantine" aria-current="page">Quarantine<\/a>/);
    assert.match(page, /<a href="\/">Dashboard<\/a>/);
    assert.match(page, /<form class="device-lookup" method="get" action="\/devices"/);
    assert.match(
      page,
      /<label for="device-lookup-client">Device<\/label>\s*<input id="device-lookup-client" name="client"/,
    );
  });

  it('starts with a skip link to the main content, and loads only its own assets', () => {
    assert.match(page, /<body[^>]*>\s*<a class="skip-link" href="#main">Skip to main content<\/a>/);
    assert.match(page, /<main id="main" tabindex="-1">\s*<p id="content">hello<\/p>/);
    assert.deepEqual(page.match(/(?:href|src)="[^"]*\.(?:css|js)"/g), [
      'href="/static/console.css"',
      'src="/static/htmx.min.js"',
      'src="/static/console.js"',
    ]);
    assert.match(page, /<title>Quarantine · MQTT Sentinel console<\/title>/);
  });

  it('configures htmx for a strict CSP and to show refused decisions', () => {
    const config = JSON.parse(attribute(page, 'meta name="htmx-config"', 'content') ?? 'null');
    assert.equal(config.allowEval, false);
    assert.equal(config.includeIndicatorStyles, false);
    const rules: { code: string; swap: boolean }[] = config.responseHandling;
    const swaps = (status: string) => rules.find((rule) => new RegExp(rule.code).test(status))?.swap;
    assert.deepEqual(['200', '204', '409', '422', '403', '500'].map(swaps), [
      true,
      false,
      true,
      true,
      false,
      false,
    ]);
  });

  it('shows a viewer as a viewer', () => {
    const out = layout({
      title: 't',
      principal: viewer,
      csrfToken: 'x',
      active: null,
      body: html``,
    }).toString();
    assert.match(out, /<span class="role role-viewer">viewer<\/span>/);
    assert.doesNotMatch(out, /aria-current/);
  });
});

describe('loginPage', () => {
  it('posts name, password and next to /login, with labelled fields and no navigation', () => {
    const out = loginPage({ next: '/quarantine?status=held' }).toString();
    assert.match(out, /<form method="post" action="\/login">/);
    assert.match(out, /<input type="hidden" name="next" value="\/quarantine\?status=held">/);
    assert.match(
      out,
      /<label for="login-name">Name<\/label>\s*<input id="login-name" name="name" type="text" required autocomplete="username"/,
    );
    assert.match(
      out,
      /<label for="login-password">Password<\/label>\s*<input id="login-password" name="password" type="password" required/,
    );
    assert.doesNotMatch(out, /Signed in as|class="main-nav"|csrf-token|hx-headers/);
    assert.doesNotMatch(out, /role="alert">/);
  });

  it('shows the error as an alert', () => {
    assert.match(
      loginPage({ error: 'Wrong name or password.' }).toString(),
      /<p class="error" role="alert">Wrong name or password.<\/p>/,
    );
  });
});
