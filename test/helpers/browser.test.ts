import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { HeldFilter, HeldStatus, HeldSummary, Principal, VerdictEvent } from '../../console/model.js';
import { dashboardPage } from '../../console/views/dashboard.js';
import { decisionFragment, detailPage } from '../../console/views/detail.js';
import { loginPage } from '../../console/views/login.js';
import { queuePage, queueTable } from '../../console/views/queue.js';
import { operator, sampleDetail, sampleHeld, viewer } from '../../console/views/sample-data.js';
import { projectRoot } from '../../lib/local-platform.js';
import { launchBrowser, screenshot } from './browser.js';

/**
 * Smoke test of the browser helper and of the console's pages in a real Chromium: the pages are
 * served by a bare node:http server standing in for the console's own, under a strict CSP.
 */

const csrfToken = 'smoke-csrf-token';
const hostileClient = '<script>window.__pwned = "client"</script>';
const hostilePayload = '<script>window.__pwned = "payload"</script> {"cmd":"; rm -rf /"}';
const csp =
  "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

let held: HeldSummary[] = [];
/** What the console received with each decision, to check the forms send what the server expects. */
const decisions: { path: string; csrfHeader: string | undefined; body: URLSearchParams }[] = [];

function resetHeld() {
  held = [
    sampleHeld({ heldId: 'evt-1', clientId: hostileClient, topic: 'plant/<b>line</b>/cmd' }),
    sampleHeld({
      heldId: 'evt-2',
      clientId: 'sensor-2',
      ruleIds: ['xss-tag', 'cmdi-shell'],
      heldAt: Date.UTC(2026, 11, 6, 9),
    }),
  ];
  decisions.length = 0;
}

function filterOf(query: URLSearchParams): HeldFilter {
  const status = query.get('status') || 'held';
  return {
    status: status as HeldStatus | 'all',
    ...(query.get('client') ? { clientId: query.get('client')! } : {}),
  };
}

function matching(filter: HeldFilter): HeldSummary[] {
  return held.filter(
    (item) =>
      (filter.status === 'all' || item.status === filter.status) &&
      (filter.clientId === undefined || item.clientId === filter.clientId),
  );
}

function decide(
  item: HeldSummary,
  action: 'release' | 'drop',
  reason: string,
  principal: Principal,
): HeldSummary {
  const decided: HeldSummary = {
    ...item,
    status: action === 'release' ? 'released' : 'dropped',
    decision: {
      decisionId: `d-${item.heldId}`,
      action,
      operator: principal.name,
      reason,
      decidedAt: Date.UTC(2026, 11, 6, 12),
    },
  };
  held = held.map((other) => (other.heldId === item.heldId ? decided : other));
  return decided;
}

async function readBody(request: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function send(response: ServerResponse, status: number, body: string, type = 'text/html; charset=utf-8') {
  response.writeHead(status, { 'content-type': type, 'content-security-policy': csp, vary: 'HX-Request' });
  response.end(body);
}

async function serveStatic(name: string, response: ServerResponse) {
  const path =
    name === 'htmx.min.js'
      ? join(projectRoot, 'node_modules', 'htmx.org', 'dist', 'htmx.min.js')
      : join(projectRoot, 'console', 'static', name);
  const type = name.endsWith('.css')
    ? 'text/css; charset=utf-8'
    : name.endsWith('.svg')
      ? 'image/svg+xml'
      : 'text/javascript; charset=utf-8';
  if (!/^[a-z0-9.-]+$/.test(name)) return send(response, 404, 'not found', 'text/plain');
  try {
    send(response, 200, await readFile(path, 'utf8'), type);
  } catch {
    send(response, 404, 'not found', 'text/plain');
  }
}

const verdict: VerdictEvent = {
  eventId: 'v-1',
  clientId: hostileClient,
  packetType: 'PUBLISH',
  topic: 'plant/<i>x</i>',
  decision: 'block',
  mode: 'enforce',
  ruleIds: ['cmdi-shell'],
  decidedAt: Date.UTC(2026, 11, 6, 10, 31, 5, 123),
  operator: null,
};

async function route(request: IncomingMessage, response: ServerResponse) {
  const url = new URL(request.url ?? '/', 'http://console.test');
  const principal = url.searchParams.get('as') === 'viewer' ? viewer : operator;
  const isHtmx =
    request.headers['hx-request'] === 'true' && request.headers['hx-history-restore-request'] !== 'true';
  const staticFile = /^\/static\/([^/]+)$/.exec(url.pathname);
  const decision = /^\/quarantine\/([^/]+)\/(release|drop)$/.exec(url.pathname);
  const detail = /^\/quarantine\/([^/]+)$/.exec(url.pathname);

  if (request.method === 'GET' && staticFile) return serveStatic(staticFile[1]!, response);
  if (request.method === 'GET' && url.pathname === '/login')
    return send(response, 200, loginPage({ next: '/' }).toString());
  if (request.method === 'GET' && url.pathname === '/') {
    return send(
      response,
      200,
      dashboardPage({
        principal,
        csrfToken,
        offenders: [],
        offendersError: null,
        heldCount: matching({ status: 'held' }).length,
      }).toString(),
    );
  }
  if (request.method === 'GET' && url.pathname === '/api/v1/verdicts/stream') {
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
    response.write(`event: verdict\ndata: ${JSON.stringify(verdict)}\n\n`);
    return; // left open, as a live stream is; the server closes it at the end
  }
  if (request.method === 'GET' && url.pathname === '/quarantine') {
    const filter = filterOf(url.searchParams);
    const options = {
      principal,
      csrfToken,
      filter,
      page: { items: matching(filter), total: matching(filter).length },
    };
    return send(response, 200, (isHtmx ? queueTable(options) : queuePage(options)).toString());
  }
  if (request.method === 'POST' && url.pathname === '/quarantine/bulk') {
    const body = await readBody(request);
    const filter = filterOf(body);
    const action = body.get('action') === 'drop' ? 'drop' : 'release';
    const decided = matching(filter).filter((item) => item.status === 'held');
    for (const item of decided) decide(item, action, body.get('reason') ?? '', principal);
    const notice = `${action === 'drop' ? 'Dropped' : 'Released'} ${decided.length} held messages.`;
    const page = { items: matching(filter), total: matching(filter).length };
    return send(response, 200, queueTable({ principal, csrfToken, filter, page, notice }).toString());
  }
  if (request.method === 'POST' && decision) {
    const body = await readBody(request);
    const header = request.headers['x-csrf-token'];
    decisions.push({ path: url.pathname, csrfHeader: Array.isArray(header) ? header[0] : header, body });
    const item = held.find((candidate) => candidate.heldId === decodeURIComponent(decision[1]!));
    if (!item) return send(response, 404, 'no such held message', 'text/plain');
    const reason = body.get('reason')?.trim() ?? '';
    if (reason === '') {
      return send(
        response,
        422,
        decisionFragment({ held: item, principal, csrfToken, error: 'A reason is required.' }).toString(),
      );
    }
    const decided = decide(item, decision[2] as 'release' | 'drop', reason, principal);
    return send(response, 200, decisionFragment({ held: decided, principal, csrfToken }).toString());
  }
  if (request.method === 'GET' && detail) {
    const item = held.find((candidate) => candidate.heldId === decodeURIComponent(detail[1]!));
    if (!item) return send(response, 404, 'no such held message', 'text/plain');
    const start = hostilePayload.indexOf('rm -rf');
    const view =
      (['text', 'json', 'hex'] as const).find((kind) => kind === url.searchParams.get('view')) ?? 'text';
    const heldDetail = sampleDetail({
      ...item,
      payload: {
        size: hostilePayload.length,
        base64: Buffer.from(hostilePayload).toString('base64'),
        text: hostilePayload,
        json: null,
        hex: `00000000  3c 73 63 72 69 70 74 3e  |<script>|`,
        highlights: [{ start, end: start + 'rm -rf /'.length, ruleId: 'cmdi-shell' }],
      },
    });
    return send(response, 200, detailPage({ principal, csrfToken, held: heldDetail, view }).toString());
  }
  send(response, 404, 'not found', 'text/plain');
}

describe('the console in Chromium (test/helpers/browser.ts)', () => {
  let server: Server;
  let browser: Browser;
  let context: BrowserContext;
  let base = '';
  let page: Page;
  let problems: string[] = [];

  before(async () => {
    server = createServer((request, response) => {
      route(request, response).catch((error: unknown) => send(response, 500, String(error), 'text/plain'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchBrowser();
    // One laptop-sized context for all: a context per test costs a second on a busy machine.
    context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  });

  after(async () => {
    await browser?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  beforeEach(async () => {
    resetHeld();
    problems = [];
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    // CSP violations and script errors show up here: the pages must run with neither.
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
  });

  async function done() {
    await page.close();
    assert.deepEqual(problems, [], 'no script errors or CSP violations');
  }

  it('login: labelled fields, and Tab goes from the skip link to the first field', async () => {
    await page.goto(`${base}/login`);
    await page.getByLabel('Name').waitFor();
    await page.getByLabel('Password').waitFor();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    const focused = async () =>
      page.locator(':focus').evaluate((element) => element.id || element.textContent);
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'Skip to main content');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'MQTT Sentinel');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'login-name');
    // The skip link leads past the header: the next Tab is the first field.
    await page.goto(`${base}/login`);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    assert.equal(await focused(), 'main');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'login-name');
    await screenshot(page, 'login');
    await done();
  });

  it('queue: hostile client ids show as text; a release swaps in the decision, sent with the CSRF header', async () => {
    await page.goto(`${base}/quarantine`);
    await page.getByRole('link', { name: hostileClient }).waitFor();
    assert.equal(await page.evaluate(() => (globalThis as { __pwned?: string }).__pwned), undefined);
    await page.getByRole('button', { name: 'Drop evt-2' }).waitFor();
    await page.getByRole('link', { name: 'Inspect evt-1' }).waitFor();
    await screenshot(page, 'quarantine-queue');

    await page.getByLabel('Reason to release evt-1').fill('false positive: calibration string');
    await page.getByRole('button', { name: 'Release evt-1' }).click();
    await page
      .locator('tr[data-held-id="evt-1"]')
      .getByRole('status')
      .filter({ hasText: 'Released by alice' })
      .waitFor();
    await page.getByRole('button', { name: 'Release evt-1' }).waitFor({ state: 'detached' });
    assert.equal(decisions.length, 1);
    assert.equal(decisions[0]!.path, '/quarantine/evt-1/release');
    assert.equal(decisions[0]!.csrfHeader, csrfToken);
    assert.equal(decisions[0]!.body.get('reason'), 'false positive: calibration string');
    assert.equal(decisions[0]!.body.get('_csrf'), csrfToken);

    await page.getByLabel('Status').selectOption('released');
    await page.waitForURL(/\/quarantine\?status=released/);
    await page.locator('tr[data-held-id="evt-2"]').waitFor({ state: 'detached' });
    await page.locator('tr[data-held-id="evt-1"]').waitFor();
    await done();
  });

  it('queue: a bulk decision asks for confirmation, then replaces the table with a notice', async () => {
    await page.goto(`${base}/quarantine?status=held`);
    page.once('dialog', (dialog) => {
      assert.match(dialog.message(), /all 2 held messages/);
      void dialog.accept();
    });
    await page.getByLabel('Decision for all 2').selectOption('drop');
    await page.getByLabel('Reason', { exact: true }).fill('botnet sweep');
    await page.getByRole('button', { name: 'Decide all matching' }).click();
    await page.getByRole('status').filter({ hasText: 'Dropped 2 held messages.' }).waitFor();
    assert.deepEqual(
      held.map((item) => item.status),
      ['dropped', 'dropped'],
    );
    await done();
  });

  it('queue: a viewer sees the rows and no decision controls', async () => {
    await page.goto(`${base}/quarantine?as=viewer`);
    await page.getByRole('link', { name: 'Inspect evt-2' }).waitFor();
    assert.equal(await page.getByRole('button', { name: /Release|Drop|Decide/ }).count(), 0);
    assert.equal(await page.getByRole('textbox', { name: /Reason/ }).count(), 0);
    await done();
  });

  it('detail: the payload shows its <script> as text, the evidence marked', async () => {
    await page.goto(`${base}/quarantine/evt-1?view=text`);
    const payload = page.locator('pre.payload-text');
    assert.equal(await payload.textContent(), hostilePayload);
    assert.equal(await payload.locator('mark[data-rule="cmdi-shell"]').textContent(), 'rm -rf /');
    assert.equal(await page.evaluate(() => (globalThis as { __pwned?: string }).__pwned), undefined);
    assert.equal(await page.getByRole('link', { name: 'Text' }).getAttribute('aria-current'), 'page');
    await screenshot(page, 'held-detail');
    await page.getByRole('link', { name: 'JSON' }).click();
    await page.getByText('The payload is not JSON.').waitFor();
    await done();
  });

  it('dashboard: a live verdict arrives as a row, its client id as text', async () => {
    await page.goto(`${base}/`);
    const row = page.locator('#verdict-stream tr[data-event-id="v-1"]');
    await row.getByRole('link', { name: hostileClient }).waitFor();
    assert.equal(await row.locator('.badge').first().textContent(), 'block');
    assert.equal(await row.locator('code.topic').textContent(), 'plant/<i>x</i>');
    await page.locator('#verdict-stream-state[data-state="open"]').waitFor();
    assert.equal(await page.locator('#verdict-stream tr.placeholder').count(), 0);
    assert.equal(await page.evaluate(() => (globalThis as { __pwned?: string }).__pwned), undefined);
    await screenshot(page, 'dashboard');
    await done();
  });
});
