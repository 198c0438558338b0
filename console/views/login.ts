import { html, type SafeHtml } from './html.js';
import { layout } from './layout.js';

export interface LoginOptions {
  /** Why the last attempt failed, shown as an alert. */
  readonly error?: string;
  /** Where to go once signed in: the server must accept only a path on this console. */
  readonly next?: string;
}

export function loginPage({ error, next }: LoginOptions = {}): SafeHtml {
  return layout({
    title: 'Sign in',
    principal: null,
    csrfToken: null,
    active: null,
    body: html`<section class="login" aria-labelledby="login-heading">
<h1 id="login-heading">Sign in</h1>
${error === undefined ? null : html`<p class="error" role="alert">${error}</p>`}
<form method="post" action="/login">
<input type="hidden" name="next" value="${next ?? '/'}">
<div class="field"><label for="login-name">Name</label>
<input id="login-name" name="name" type="text" required autocomplete="username" autocapitalize="none" spellcheck="false"></div>
<div class="field"><label for="login-password">Password</label>
<input id="login-password" name="password" type="password" required autocomplete="current-password"></div>
<button type="submit">Sign in</button>
</form>
</section>`,
  });
}
