import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { QuarantineAction } from '../schemas/types.generated.js';
import { filterOf, reasonOf } from './api.js';
import { detailOf, isNarrowed, summaryOf } from './held-store.js';
import { type HeldFilter, statusOfAction } from './model.js';
import { PayloadUnavailableError } from './quarantine-service.js';
import { type ConsoleDeps, SESSION_COOKIE } from './server.js';
import { TimeInputError } from './time-input.js';
import { dashboardPage } from './views/dashboard.js';
import { decisionFragment } from './views/decision.js';
import { detailPage, type PayloadViewKind, payloadViewKinds } from './views/detail.js';
import { devicePage } from './views/device.js';
import type { SafeHtml } from './views/html.js';
import { loginPage } from './views/login.js';
import { queuePage, queueTable } from './views/queue.js';

const QUEUE_PAGE_ROWS = 200;

/** Static files: the console's own, and htmx from its package (no CDN: the page works offline). */
function staticFiles(): ReadonlyMap<string, { readonly body: Buffer; readonly type: string }> {
  const here = join(fileURLToPath(import.meta.url), '..');
  // dist/console -> the sources' console/static (not copied by tsc).
  const own = join(here, '..', '..', 'console', 'static');
  const htmx = createRequire(import.meta.url).resolve('htmx.org/dist/htmx.min.js');
  return new Map([
    ['/static/htmx.min.js', { body: readFileSync(htmx), type: 'text/javascript; charset=utf-8' }],
    [
      '/static/console.js',
      { body: readFileSync(join(own, 'console.js')), type: 'text/javascript; charset=utf-8' },
    ],
    [
      '/static/console.css',
      { body: readFileSync(join(own, 'console.css')), type: 'text/css; charset=utf-8' },
    ],
    ['/static/favicon.svg', { body: readFileSync(join(own, 'favicon.svg')), type: 'image/svg+xml' }],
  ]);
}

function sendPage(reply: FastifyReply, page: SafeHtml, status = 200) {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('Cache-Control', 'no-store')
    .send(page.toString());
}

function isHtmx(request: FastifyRequest): boolean {
  return request.headers['hx-request'] === 'true';
}

/** Only a path on this console (no scheme, no host, no `//`): an open redirect is refused. */
function safeNext(next: string | undefined): string {
  return next && /^\/(?!\/)[^\s\\]*$/.test(next) ? next : '/';
}

function sourceIpOf(request: FastifyRequest): string {
  return request.ip ?? request.socket.remoteAddress ?? 'unknown';
}

/** The operators' pages (server-rendered, htmx for in-place updates) on the same service as the API. */
export function registerPages(app: FastifyInstance, deps: ConsoleDeps): void {
  const { quarantine, auth } = deps;
  const files = staticFiles();
  for (const [path, file] of files) {
    app.get(path, async (_request, reply) =>
      reply.type(file.type).header('Cache-Control', 'max-age=300').send(file.body),
    );
  }

  app.get('/login', async (request, reply) => {
    const next = safeNext((request.query as Record<string, string | undefined>).next);
    if (request.principal) return reply.redirect(next, 303);
    return sendPage(reply, loginPage({ next }));
  });

  app.post('/login', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, string | undefined>;
    const next = safeNext(body.next);
    const result = await auth.login(body.name ?? '', body.password ?? '', sourceIpOf(request));
    deps.metrics.logins.inc({ outcome: result.outcome });
    deps.log.info(
      { audit: 'sign_in', operator: body.name ?? '', outcome: result.outcome, sourceIp: sourceIpOf(request) },
      'console sign-in',
    );
    if (result.outcome === 'limited') {
      reply.header('Retry-After', String(Math.ceil(result.retryAfterMs / 1000)));
      return sendPage(
        reply,
        loginPage({ error: 'Too many failed sign-ins from this address; wait a few minutes.', next }),
        429,
      );
    }
    if (result.outcome === 'refused') {
      return sendPage(reply, loginPage({ error: 'Wrong name or password.', next }), 401);
    }
    reply.setCookie(SESSION_COOKIE, result.session.id, {
      path: '/',
      httpOnly: true,
      sameSite: 'strict',
      secure: deps.secure,
      maxAge: Math.floor(24 * 3600),
    });
    return reply.redirect(next, 303);
  });

  app.post('/logout', async (request, reply) => {
    if (request.session)
      deps.log.info({ audit: 'sign_out', operator: request.session.principal.name }, 'console sign-out');
    auth.logout(request.session?.id);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return reply.redirect('/login', 303);
  });

  const principalOf = (request: FastifyRequest) => {
    if (!request.principal) throw new Error('unauthenticated request reached a page');
    return request.principal;
  };
  const csrfOf = (request: FastifyRequest) => request.session?.csrfToken ?? null;

  app.get('/', async (request, reply) => {
    let offenders: Awaited<ReturnType<typeof deps.forensics.topOffenders>> = [];
    let offendersError: string | null = null;
    try {
      offenders = await deps.forensics.topOffenders('24h', 20);
    } catch (err) {
      offendersError = `The forensic store did not answer (${(err as Error).message}).`;
    }
    return sendPage(
      reply,
      dashboardPage({
        principal: principalOf(request),
        csrfToken: csrfOf(request),
        offenders,
        offendersError,
        heldCount: quarantine.store.counts().held,
      }),
    );
  });

  app.get('/quarantine', async (request, reply) => {
    let filter: HeldFilter;
    let notice: string | undefined;
    try {
      filter = filterOf(request.query, Date.now());
    } catch (err) {
      if (!(err instanceof TimeInputError)) throw err;
      filter = { status: 'held' };
      notice = err.message;
    }
    const options = {
      principal: principalOf(request),
      csrfToken: csrfOf(request),
      filter,
      page: quarantine.list(filter, QUEUE_PAGE_ROWS),
      ...(notice ? { notice } : {}),
    };
    return sendPage(reply, isHtmx(request) ? queueTable(options) : queuePage(options));
  });

  app.post('/quarantine/bulk', async (request, reply) => {
    const principal = principalOf(request);
    const body = request.body as Record<string, string | undefined>;
    let filter: HeldFilter = { status: 'held' };
    let notice: string;
    try {
      filter = filterOf(body, Date.now(), 'held');
      const action = body.action;
      const reason = reasonOf(body);
      if (principal.role !== 'operator') notice = 'Deciding needs the operator role.';
      else if (action !== 'release' && action !== 'drop') notice = 'Choose release or drop.';
      else if (!reason) notice = 'Say why: the reason is recorded with every decision.';
      else if (!isNarrowed(filter))
        notice = 'A bulk decision needs a filter: a client, a rule or a time range.';
      else {
        const outcome = await quarantine.decideMany(filter, action, principal.name, reason);
        notice = `${action === 'release' ? 'Released' : 'Dropped'} ${outcome.decided} held ${outcome.decided === 1 ? 'message' : 'messages'}${outcome.skipped > 0 ? `; ${outcome.skipped} already decided` : ''}.`;
      }
    } catch (err) {
      if (err instanceof PayloadUnavailableError) notice = `Stopped part-way: ${err.message}; try again.`;
      else if (err instanceof TimeInputError) notice = err.message;
      else throw err;
    }
    const options = {
      principal,
      csrfToken: csrfOf(request),
      filter: { ...filter, status: 'held' as const },
      page: quarantine.list({ ...filter, status: 'held' }, QUEUE_PAGE_ROWS),
      notice,
    };
    return sendPage(reply, isHtmx(request) ? queueTable(options) : queuePage(options));
  });

  app.get<{ Params: { id: string } }>('/quarantine/:id', async (request, reply) => {
    const entry = quarantine.get(request.params.id);
    if (!entry) return reply.code(404).type('text/plain').send(`no held message ${request.params.id}`);
    let withPayload: typeof entry;
    try {
      withPayload = await quarantine.withPayload(entry);
    } catch (err) {
      if (!(err instanceof PayloadUnavailableError)) throw err;
      return reply
        .code(503)
        .type('text/plain')
        .send(`The payload of ${entry.held.heldId} is not in memory: ${err.message}. Reload in a moment.`);
    }
    const wanted = (request.query as Record<string, string | undefined>).view;
    const view: PayloadViewKind = payloadViewKinds.includes(wanted as PayloadViewKind)
      ? (wanted as PayloadViewKind)
      : 'text';
    return sendPage(
      reply,
      detailPage({
        principal: principalOf(request),
        csrfToken: csrfOf(request),
        held: detailOf(withPayload),
        view,
      }),
    );
  });

  const decide =
    (action: Exclude<QuarantineAction, 'expire'>) =>
    async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
      const principal = principalOf(request);
      const entry = quarantine.get(request.params.id);
      if (!entry) return reply.code(404).type('text/plain').send(`no held message ${request.params.id}`);
      const reason = reasonOf(request.body);
      let error: string | undefined;
      let status = 200;
      if (principal.role !== 'operator') {
        error = 'Deciding needs the operator role.';
        status = 403;
      } else if (!reason) {
        error = 'Say why: the reason is recorded with the decision.';
        status = 400;
      } else {
        try {
          const result = await quarantine.decide(entry.held.heldId, action, principal.name, reason);
          if (result.outcome === 'already') {
            error = `Already ${statusOfAction[result.decision.action]} by ${result.decision.operator}.`;
            status = 409;
          }
        } catch (err) {
          if (!(err instanceof PayloadUnavailableError)) throw err;
          error = `Not released: ${err.message}; try again in a moment.`;
          status = 503;
        }
      }
      const fragment = decisionFragment({
        held: summaryOf(entry),
        principal,
        csrfToken: csrfOf(request),
        ...(error ? { error } : {}),
      });
      // htmx swaps only 2xx answers by default; the fragment carries the error itself.
      if (isHtmx(request)) return sendPage(reply, fragment, 200);
      if (error) return sendPage(reply, fragment, status);
      return reply.redirect(`/quarantine/${encodeURIComponent(entry.held.heldId)}`, 303);
    };
  app.post('/quarantine/:id/release', decide('release'));
  app.post('/quarantine/:id/drop', decide('drop'));

  app.get('/devices', async (request, reply) => {
    const client = ((request.query as Record<string, string | undefined>).client ?? '').trim();
    if (client === '') return reply.redirect('/quarantine', 303);
    return reply.redirect(`/devices/${encodeURIComponent(client)}`, 303);
  });

  app.get<{ Params: { clientId: string } }>('/devices/:clientId', async (request, reply) => {
    const { clientId } = request.params;
    let rows: Awaited<ReturnType<typeof deps.forensics.deviceTimeline>> = [];
    let timelineError: string | null = null;
    try {
      rows = await deps.forensics.deviceTimeline(clientId, '24h', 500);
    } catch (err) {
      timelineError = `The forensic store did not answer (${(err as Error).message}).`;
    }
    return sendPage(
      reply,
      devicePage({
        principal: principalOf(request),
        csrfToken: csrfOf(request),
        clientId,
        rows,
        held: quarantine.list({ status: 'all', clientId }, 200).items,
        timelineError,
      }),
    );
  });
}
