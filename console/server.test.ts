import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { createLogger } from '../lib/log.js';
import { registerApi } from './api.js';
import { Authenticator, issueToken, readOperators, readTokens, saveOperator } from './auth.js';
import type { ForensicsReader } from './forensics-reader.js';
import { createConsoleMetrics } from './metrics.js';
import { registerPages } from './pages.js';
import type { QuarantineService } from './quarantine-service.js';
import { buildConsoleServer, SESSION_COOKIE } from './server.js';
import type { VerdictStream } from './verdict-stream.js';

/**
 * Authentication, sessions and CSRF of the console's HTTP server, in process. The routes used here
 * never reach the quarantine, the stream or the forensic store; the flows that do run against the
 * real pipeline (test/integration/console*.test.ts).
 */
const dir = mkdtempSync(join(tmpdir(), 'console-server-'));
let app: FastifyInstance;
let auth: Authenticator;
let token: string;

before(async () => {
  await saveOperator(join(dir, 'operators.json'), 'alice', 'operator', 'correct horse battery');
  token = issueToken(join(dir, 'tokens'), 'ci', 'viewer');
  const registry = new Registry();
  auth = new Authenticator({
    operators: readOperators(join(dir, 'operators.json')),
    tokens: readTokens(join(dir, 'tokens')),
    sessionIdleMs: 60_000,
    sessionMaxMs: 600_000,
    maxSessions: 10,
    maxFailures: 10,
    failureWindowMs: 60_000,
  });
  const deps = {
    auth,
    // Not reached by the routes under test (see above).
    quarantine: {} as unknown as QuarantineService,
    stream: {} as unknown as VerdictStream,
    forensics: {} as unknown as ForensicsReader,
    metrics: createConsoleMetrics(registry),
    registry,
    log: createLogger({ name: 'console-test', level: 'silent' }),
    secure: false,
    ready: () => true,
  };
  app = await buildConsoleServer(deps);
  registerApi(app, deps);
  registerPages(app, deps);
});

after(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

/** POST /login with a form body (and any extra headers). */
function postLogin(form: string, headers: Record<string, string> = {}) {
  return app.inject({
    method: 'POST',
    url: '/login',
    payload: form,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });
}

async function signIn(): Promise<{ cookie: string; csrf: string }> {
  const response = await postLogin('name=alice&password=correct+horse+battery&next=%2Fquarantine');
  assert.equal(response.statusCode, 303);
  assert.equal(response.headers.location, '/quarantine');
  const set = String(response.headers['set-cookie']);
  assert.match(set, /HttpOnly/);
  assert.match(set, /SameSite=Strict/);
  const cookie = /sentinel_session=([^;]+)/.exec(set)?.[1] as string;
  // The pages carry the session's CSRF token (meta tag, hx-headers, form fields).
  return { cookie, csrf: auth.session(cookie)?.csrfToken as string };
}

describe('console server: who may do what', () => {
  it('probes and static files need no sign-in; pages send you to sign in, the API answers 401', async () => {
    assert.equal((await app.inject('/healthz')).statusCode, 200);
    assert.equal((await app.inject('/readyz')).statusCode, 200);
    assert.equal((await app.inject('/static/htmx.min.js')).statusCode, 200);
    const page = await app.inject('/quarantine?status=held');
    assert.equal(page.statusCode, 303);
    assert.equal(page.headers.location, '/login?next=%2Fquarantine%3Fstatus%3Dheld');
    assert.equal((await app.inject('/api/v1/me')).statusCode, 401);
    const wrong = await app.inject({ url: '/api/v1/me', headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.statusCode, 401);
  });

  it('every answer carries a content security policy that allows no inline script', async () => {
    const response = await app.inject('/login');
    assert.match(String(response.headers['content-security-policy']), /script-src 'self';/);
    assert.equal(response.headers['x-frame-options'], 'DENY');
  });

  it('a wrong password is refused; an open redirect in next is not followed', async () => {
    const wrong = await postLogin('name=alice&password=nope');
    assert.equal(wrong.statusCode, 401);
    assert.match(wrong.body, /Wrong name or password/);
    const away = await postLogin('name=alice&password=correct+horse+battery&next=%2F%2Fevil.example');
    assert.equal(away.headers.location, '/');
  });

  it('a signed-in post needs the CSRF token and must not come from another site', async () => {
    const { cookie, csrf } = await signIn();
    const cookies = { [SESSION_COOKIE]: cookie };
    const noToken = await app.inject({ method: 'POST', url: '/logout', cookies });
    assert.equal(noToken.statusCode, 403);
    assert.match(noToken.body, /CSRF/);
    const crossSite = await app.inject({
      method: 'POST',
      url: '/logout',
      cookies,
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    assert.equal(crossSite.statusCode, 403);
    const foreignSignIn = await postLogin('name=alice&password=correct+horse+battery', {
      origin: 'https://evil.example',
    });
    assert.equal(foreignSignIn.statusCode, 403);
    const signedOut = await app.inject({
      method: 'POST',
      url: '/logout',
      cookies,
      headers: { 'x-csrf-token': csrf },
    });
    assert.equal(signedOut.statusCode, 303);
    assert.equal(auth.session(cookie), undefined, 'the session is gone');
  });

  it('a bearer token needs no CSRF token, and a viewer token cannot decide', async () => {
    const me = await app.inject({ url: '/api/v1/me', headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(me.json(), { name: 'ci', role: 'viewer' });
    const decide = await app.inject({
      method: 'POST',
      url: '/api/v1/held/some-id/release',
      headers: { authorization: `Bearer ${token}` },
      payload: { reason: 'x' },
    });
    assert.equal(decide.statusCode, 403);
    assert.match(decide.body, /operator role/);
  });
});
