import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createChdbConnection } from 'chdb/connection';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../lib/log.js';
import {
  credentialsAccepted,
  parseEngineError,
  parseQueryRequest,
  type QueryRequest,
  RequestRefusal,
  sqlStringLiteral,
  statusOfErrorCode,
} from './http-request.js';
import { checkReadOnlyStatement } from './read-only.js';

/**
 * The way other processes read an embedded store: chDB locks its data directory, so the sink, which
 * owns it, answers the ClickHouse HTTP protocol on 127.0.0.1 and the CLI's @clickhouse/client (or
 * curl, or a Grafana ClickHouse datasource) talks to it exactly as to a server.
 *
 * Every request runs in a fresh chDB session on the owned directory (sessions cost ~0.1 ms and do
 * not share settings): USE the database, SET the query parameters and settings the request carries,
 * then SET readonly = 1, which the engine refuses to lift again, and only then the query. The sink
 * writes through a session of its own, so reads never wait for a batch and never see its settings.
 *
 * Two paths are not ClickHouse's: POST /sentinel/ddl applies the forensic DDL through the owner
 * (what `sentinel stack up` uses when the sink runs) and GET /sentinel/tables lists the tables.
 */
export interface QueryEngineResult {
  readonly body: Buffer;
  readonly rowsRead: number;
  readonly bytesRead: number;
  readonly elapsedSeconds: number;
}

export interface QueryEngine {
  run(request: QueryRequest, format: string): Promise<QueryEngineResult>;
}

/** Limits applied before the request's own settings, so a client can still raise them. */
const defaultReadSettings: Readonly<Record<string, string>> = {
  max_execution_time: '300',
  max_result_bytes: String(256 * 1024 * 1024),
};

export function embeddedReadEngine(path: string): QueryEngine {
  return {
    async run(request, format) {
      const connection = createChdbConnection({ path });
      try {
        const session = connection.chdb;
        const preamble: string[] = [];
        if (request.database) preamble.push(`USE \`${request.database}\``);
        for (const [name, value] of Object.entries(request.params)) {
          // A server reads a param_ value as the escaped text form of its type; SET param_ does too.
          preamble.push(`SET param_${name} = ${sqlStringLiteral(value)}`);
        }
        for (const [name, value] of Object.entries({ ...defaultReadSettings, ...request.settings })) {
          preamble.push(`SET ${name} = ${sqlStringLiteral(value)}`);
        }
        preamble.push('SET readonly = 1');
        await session.queryAsync(preamble.join('; '), { format: 'TabSeparated' });
        const result = await session.queryAsync(request.query, { format });
        const bytes = result.bytes();
        return {
          body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
          rowsRead: result.rowsRead,
          bytesRead: result.bytesRead,
          elapsedSeconds: result.elapsed,
        };
      } finally {
        await connection.close();
      }
    },
  };
}

export interface QueryEndpointOptions {
  readonly host: string;
  readonly port: number;
  readonly engine: QueryEngine;
  readonly user: string;
  readonly password: string;
  readonly registry: Registry;
  readonly log: Logger;
  /** Applies the forensic DDL through the owner and returns the tables. */
  readonly applyDdl: () => Promise<string[]>;
  readonly tables: () => Promise<string[]>;
  readonly maxBodyBytes?: number;
  readonly maxConcurrent?: number;
}

export interface QueryEndpoint {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

function contentTypeOf(format: string): string {
  if (/^JSON/.test(format) && !/EachRow|Lines|Strings$/.test(format))
    return 'application/json; charset=UTF-8';
  if (/^JSON/.test(format)) return 'application/x-ndjson; charset=UTF-8';
  if (/^CSV/.test(format)) return 'text/csv; charset=UTF-8';
  if (/^TabSeparated|^TSV/.test(format)) return 'text/tab-separated-values; charset=UTF-8';
  return 'text/plain; charset=UTF-8';
}

function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new RequestRefusal(1002, 'TOO_LARGE_REQUEST', 413, `request body over ${limit} bytes`));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function sendError(
  response: ServerResponse,
  code: number,
  type: string,
  status: number,
  message: string,
): void {
  const text = `Code: ${code}. DB::Exception: ${message.replace(/^Code:\s*\d+\.\s*DB::Exception:\s*/, '').replace(/\s*\([A-Z_]+\)\s*$/, '')} (${type})\n`;
  response
    .writeHead(status, {
      'Content-Type': 'text/plain; charset=UTF-8',
      'X-ClickHouse-Exception-Code': String(code),
    })
    .end(text);
}

export async function startQueryEndpoint(options: QueryEndpointOptions): Promise<QueryEndpoint> {
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const maxConcurrent = options.maxConcurrent ?? 16;
  const registers = [options.registry];
  const queries = new Counter({
    name: 'sentinel_forensics_queries_total',
    help: 'queries answered by the read-only query endpoint, by outcome: ok, refused (read-only rule, credentials, limits) or error (engine)',
    labelNames: ['outcome'],
    registers,
  });
  const duration = new Histogram({
    name: 'sentinel_forensics_query_duration_seconds',
    help: 'time the engine took to answer a query of the endpoint',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  let active = 0;

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const method = request.method ?? 'GET';
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/ping' || (path === '/' && method === 'GET' && !(request.url ?? '').includes('query='))) {
      response.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
      return;
    }
    if (path === '/sentinel/ddl' && method === 'POST') {
      const tables = await options.applyDdl();
      response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ tables }));
      return;
    }
    if (path === '/sentinel/tables' && method === 'GET') {
      const tables = await options.tables();
      response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ tables }));
      return;
    }
    if (path !== '/' || (method !== 'GET' && method !== 'POST')) {
      response.writeHead(404).end();
      return;
    }
    let raw = await readBody(request, maxBody);
    if (/gzip/i.test(String(request.headers['content-encoding'] ?? ''))) raw = gunzipSync(raw);
    const parsed = parseQueryRequest({
      method,
      url: request.url ?? '/',
      headers: request.headers,
      body: raw.toString('utf8'),
    });
    if (!credentialsAccepted(parsed, options)) {
      throw new RequestRefusal(
        516,
        'AUTHENTICATION_FAILED',
        403,
        `${parsed.user}: Authentication failed: password is incorrect, or there is no user with such name`,
      );
    }
    const check = checkReadOnlyStatement(parsed.query);
    if (!check.ok) {
      throw new RequestRefusal(164, 'READONLY', 403, `this endpoint is read-only: ${check.reason}`);
    }
    if (active >= maxConcurrent) {
      throw new RequestRefusal(
        202,
        'TOO_MANY_SIMULTANEOUS_QUERIES',
        503,
        `Too many simultaneous queries. Maximum: ${maxConcurrent}`,
      );
    }
    active += 1;
    const queryId = parsed.queryId ?? randomUUID();
    const format = parsed.format ?? 'TabSeparated';
    const started = performance.now();
    try {
      const result = await options.engine.run({ ...parsed, query: check.statement }, format);
      duration.observe((performance.now() - started) / 1000);
      const summary = {
        read_rows: String(result.rowsRead),
        read_bytes: String(result.bytesRead),
        written_rows: '0',
        written_bytes: '0',
        total_rows_to_read: String(result.rowsRead),
        result_rows: '0',
        result_bytes: String(result.body.length),
        elapsed_ns: String(Math.round(result.elapsedSeconds * 1e9)),
      };
      const headers: Record<string, string> = {
        'Content-Type': contentTypeOf(format),
        'X-ClickHouse-Query-Id': queryId,
        'X-ClickHouse-Format': format,
        'X-ClickHouse-Timezone': 'UTC',
        'X-ClickHouse-Summary': JSON.stringify(summary),
      };
      const body = parsed.gzip ? gzipSync(result.body) : result.body;
      if (parsed.gzip) headers['Content-Encoding'] = 'gzip';
      response.writeHead(200, headers).end(body);
      queries.inc({ outcome: 'ok' });
    } finally {
      active -= 1;
    }
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((err: unknown) => {
      if (response.headersSent) {
        response.destroy();
        return;
      }
      if (err instanceof RequestRefusal) {
        queries.inc({ outcome: 'refused' });
        sendError(response, err.code, err.type, err.status, err.message);
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      const { code, type } = parseEngineError(message);
      queries.inc({ outcome: code === 164 ? 'refused' : 'error' });
      options.log.debug({ err }, 'query failed');
      sendError(response, code, type, statusOfErrorCode(code), message);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://${options.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
