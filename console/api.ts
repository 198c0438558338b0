import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SentinelError } from '../lib/errors.js';
import type { QuarantineAction } from '../schemas/types.generated.js';
import { detailOf, type HeldEntry, isNarrowed, summaryOf } from './held-store.js';
import { type HeldFilter, type HeldStatus, heldStatuses } from './model.js';
import { PayloadUnavailableError } from './quarantine-service.js';
import { type ConsoleDeps, requireOperator, sendError } from './server.js';
import { parseTimeInput, TimeInputError } from './time-input.js';

const REASON_MAX_CHARS = 500;
const PAGE_MAX = 1000;

type Fields = Record<string, unknown>;

function field(source: unknown, name: string): string | undefined {
  const value = (source as Fields | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}

/** The held-message filter from query or body fields (status, client, rule, since, until). */
export function filterOf(
  source: unknown,
  now: number,
  defaultStatus: HeldStatus | 'all' = 'held',
): HeldFilter {
  const status = field(source, 'status') || defaultStatus;
  if (status !== 'all' && !heldStatuses.includes(status as HeldStatus))
    throw new TimeInputError(`status: one of ${heldStatuses.join(', ')}, all`);
  const since = parseTimeInput('since', field(source, 'since'), now);
  const until = parseTimeInput('until', field(source, 'until'), now);
  const clientId = field(source, 'client')?.trim();
  const ruleId = field(source, 'rule')?.trim();
  return {
    status: status as HeldStatus | 'all',
    ...(clientId ? { clientId } : {}),
    ...(ruleId ? { ruleId } : {}),
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
  };
}

/** The operator's reason: required, one line, bounded. */
export function reasonOf(source: unknown): string | null {
  const reason = (field(source, 'reason') ?? '').replace(/\s+/g, ' ').trim();
  if (reason === '') return null;
  return reason.slice(0, REASON_MAX_CHARS);
}

function intOf(raw: string | undefined, fallback: number, max: number): number {
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 ? Math.min(n, max) : fallback;
}

function badInput(reply: FastifyReply, err: unknown) {
  if (err instanceof TimeInputError) return sendError(reply, 400, 'bad_request', err.message);
  throw err;
}

/** A forensic read that failed: the caller's input (400) or the store (502). */
function forensicsFailed(reply: FastifyReply, err: unknown) {
  if (err instanceof SentinelError && err.code === 'SNT_FORENSICS_QUERY_INVALID')
    return sendError(reply, 400, 'bad_request', err.message);
  return sendError(
    reply,
    502,
    'forensics_unavailable',
    `the forensic store did not answer: ${(err as Error).message}`,
  );
}

/** The JSON API the CLI and scripts use (the pages call the same service). */
export function registerApi(app: FastifyInstance, deps: ConsoleDeps): void {
  const { quarantine } = deps;

  app.get('/api/v1/me', async (request) => ({
    name: request.principal?.name,
    role: request.principal?.role,
  }));

  app.get('/api/v1/held', async (request, reply) => {
    try {
      const filter = filterOf(request.query, Date.now());
      const limit = intOf(field(request.query, 'limit'), 100, PAGE_MAX);
      const offset = intOf(field(request.query, 'offset'), 0, Number.MAX_SAFE_INTEGER);
      return quarantine.list(filter, limit, offset);
    } catch (err) {
      return badInput(reply, err);
    }
  });

  /** The held message of the path with its payload, or an answer already sent (404, 503). */
  const withPayload = async (
    request: FastifyRequest<{ Params: { id: string } }>,
    reply: FastifyReply,
  ): Promise<HeldEntry | null> => {
    const held = quarantine.get(request.params.id);
    if (!held) {
      await sendError(reply, 404, 'not_found', `no held message ${request.params.id}`);
      return null;
    }
    try {
      return await quarantine.withPayload(held);
    } catch (err) {
      if (!(err instanceof PayloadUnavailableError)) throw err;
      await sendError(reply, 503, 'payload_unavailable', `payload not in memory: ${err.message}`);
      return null;
    }
  };

  app.get<{ Params: { id: string } }>('/api/v1/held/:id', async (request, reply) => {
    const entry = await withPayload(request, reply);
    return entry ? detailOf(entry) : reply;
  });

  app.get<{ Params: { id: string } }>('/api/v1/held/:id/payload', async (request, reply) => {
    const entry = await withPayload(request, reply);
    if (!entry) return reply;
    return reply
      .type('application/octet-stream')
      .header(
        'Content-Disposition',
        `attachment; filename="${entry.held.heldId.replace(/[^A-Za-z0-9._-]/g, '_')}.bin"`,
      )
      .send(entry.held.payload);
  });

  const decideOne =
    (action: QuarantineAction) =>
    async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
      if (!requireOperator(request, reply)) return reply;
      const reason = reasonOf(request.body);
      if (!reason)
        return sendError(reply, 400, 'bad_request', 'reason: say why (it is recorded with the decision)');
      let result: Awaited<ReturnType<typeof quarantine.decide>>;
      try {
        result = await quarantine.decide(request.params.id, action, request.principal?.name ?? '', reason);
      } catch (err) {
        if (!(err instanceof PayloadUnavailableError)) throw err;
        return sendError(reply, 503, 'payload_unavailable', `cannot release: ${err.message}; try again`);
      }
      if (result.outcome === 'unknown')
        return sendError(reply, 404, 'not_found', `no held message ${request.params.id}`);
      const entry = quarantine.get(request.params.id);
      const body = {
        outcome: result.outcome,
        decision: result.decision,
        held: entry ? summaryOf(entry) : null,
      };
      return reply.code(result.outcome === 'decided' ? 200 : 409).send(body);
    };
  app.post('/api/v1/held/:id/release', decideOne('release'));
  app.post('/api/v1/held/:id/drop', decideOne('drop'));

  app.post('/api/v1/held/decide', async (request, reply) => {
    if (!requireOperator(request, reply)) return reply;
    const action = field(request.body, 'action');
    if (action !== 'release' && action !== 'drop')
      return sendError(reply, 400, 'bad_request', 'action: release or drop');
    const reason = reasonOf(request.body);
    if (!reason)
      return sendError(reply, 400, 'bad_request', 'reason: say why (it is recorded with each decision)');
    try {
      const filter = filterOf(request.body, Date.now(), 'held');
      if (!isNarrowed(filter))
        return sendError(
          reply,
          400,
          'bad_request',
          'a bulk decision needs at least one of client, rule, since, until',
        );
      return await quarantine.decideMany(filter, action, request.principal?.name ?? '', reason);
    } catch (err) {
      if (err instanceof PayloadUnavailableError)
        return sendError(reply, 503, 'payload_unavailable', `stopped part-way: ${err.message}; try again`);
      return badInput(reply, err);
    }
  });

  app.get('/api/v1/decisions', async (request) => {
    const limit = intOf(field(request.query, 'limit'), 100, PAGE_MAX);
    return { items: quarantine.store.decisions().slice(0, limit) };
  });

  app.get('/api/v1/verdicts/stream', async (request, reply) => {
    reply.hijack();
    deps.stream.attach(reply.raw);
    request.raw.on('close', () => reply.raw.end());
  });

  app.get('/api/v1/offenders', async (request, reply) => {
    try {
      const since = field(request.query, 'since') || '24h';
      return {
        items: await deps.forensics.topOffenders(since, intOf(field(request.query, 'limit'), 20, 500)),
      };
    } catch (err) {
      return forensicsFailed(reply, err);
    }
  });

  app.get<{ Params: { clientId: string } }>('/api/v1/devices/:clientId/timeline', async (request, reply) => {
    try {
      const since = field(request.query, 'since') || '24h';
      const limit = intOf(field(request.query, 'limit'), 500, 5000);
      return { items: await deps.forensics.deviceTimeline(request.params.clientId, since, limit) };
    } catch (err) {
      return forensicsFailed(reply, err);
    }
  });
}
