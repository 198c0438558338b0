import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from '../lib/log.js';
import type { Authenticator, Session } from './auth.js';
import type { ForensicsReader } from './forensics-reader.js';
import type { ConsoleMetrics } from './metrics.js';
import type { Principal } from './model.js';
import type { QuarantineService } from './quarantine-service.js';
import type { VerdictStream } from './verdict-stream.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
    session: Session | null;
  }
}

export interface ConsoleDeps {
  readonly auth: Authenticator;
  readonly quarantine: QuarantineService;
  readonly stream: VerdictStream;
  readonly forensics: ForensicsReader;
  readonly metrics: ConsoleMetrics;
  readonly registry: Registry;
  readonly log: Logger;
  /** Serve HTTPS: the session cookie is then Secure. */
  readonly secure: boolean;
  readonly https?: { readonly cert: Buffer; readonly key: Buffer };
  readonly ready: () => boolean;
}

export const SESSION_COOKIE = 'sentinel_session';

/** A JSON error body: `{ error: { code, message } }`. */
export function sendError(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).type('application/json').send({ error: { code, message } });
}

/** Paths anyone may reach: sign-in, static assets, probes and metrics. */
function isPublic(path: string): boolean {
  return (
    path === '/login' ||
    path.startsWith('/static/') ||
    path === '/healthz' ||
    path === '/readyz' ||
    path === '/metrics' ||
    path === '/favicon.ico'
  );
}

const unsafeMethods = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The console's HTTP server. Every request is authenticated by a session cookie (browsers) or a
 * bearer token (CLI, scripts). A state-changing request on a session must carry the session's
 * CSRF token (header `X-CSRF-Token`, or form field `_csrf`) and must not come from another site
 * (`Sec-Fetch-Site`, `Origin`); the cookie is HttpOnly and SameSite=Strict as well. Bearer requests
 * carry no ambient credential, so they need no CSRF token.
 */
export async function buildConsoleServer(deps: ConsoleDeps): Promise<FastifyInstance> {
  // One instance type for HTTP and HTTPS: fastify types an HTTPS server's instance apart, while the
  // routes registered here use nothing of the server but `app.server.address()`.
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    ...(deps.https ? { https: { cert: deps.https.cert, key: deps.https.key } } : {}),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  await app.register(cookie);
  await app.register(formbody);
  app.decorateRequest('principal', null);
  app.decorateRequest('session', null);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Referrer-Policy', 'no-referrer');
    reply.header('X-Frame-Options', 'DENY');
    reply.header(
      'Content-Security-Policy',
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    const path = request.url.split('?')[0] ?? '/';
    const header = request.headers.authorization;
    if (header?.startsWith('Bearer ')) {
      request.principal = deps.auth.bearer(header.slice(7).trim()) ?? null;
      if (!request.principal) return sendError(reply, 401, 'unauthenticated', 'unknown bearer token');
      return;
    }
    const session = deps.auth.session(request.cookies[SESSION_COOKIE]);
    if (session) {
      request.session = session;
      request.principal = session.principal;
    }
    if (isPublic(path)) return;
    if (!request.principal) {
      if (path.startsWith('/api/'))
        return sendError(reply, 401, 'unauthenticated', 'sign in or send a bearer token');
      return reply.redirect(`/login?next=${encodeURIComponent(request.url)}`, 303);
    }
  });

  // CSRF, after the body is parsed (the form field may carry the token).
  app.addHook('preHandler', async (request, reply) => {
    if (!unsafeMethods.has(request.method) || request.principal?.via === 'token') return;
    const site = request.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none')
      return sendError(reply, 403, 'cross_site', 'cross-site request refused');
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== 'null' && new URL(origin).host !== request.headers.host)
      return sendError(reply, 403, 'cross_site', 'request from another origin refused');
    // Signing in has no session yet: the checks above keep another site from signing a browser in.
    if (!request.session) return;
    const sent =
      (request.headers['x-csrf-token'] as string | undefined) ??
      ((request.body as Record<string, unknown> | undefined)?._csrf as string | undefined);
    if (!deps.auth.csrfMatches(request.session, sent))
      return sendError(reply, 403, 'csrf', 'missing or wrong CSRF token; reload the page');
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    deps.metrics.requests.inc({ route, status: String(reply.statusCode) });
  });

  app.get('/healthz', async (_request, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = deps.ready();
    return reply
      .code(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'not ready', checks: { quarantine: ready } });
  });
  app.get('/metrics', async (_request, reply) =>
    reply.type(deps.registry.contentType).send(await deps.registry.metrics()),
  );
  return app;
}

/** Viewers read; deciding needs the operator role. */
export function requireOperator(request: FastifyRequest, reply: FastifyReply): boolean {
  if (request.principal?.role === 'operator') return true;
  void sendError(reply, 403, 'forbidden', 'deciding needs the operator role');
  return false;
}
