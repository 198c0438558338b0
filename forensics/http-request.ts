import { timingSafeEqual } from 'node:crypto';

/**
 * How a ClickHouse HTTP request reads, as @clickhouse/client (node HTTP adapter) and curl send it,
 * parsed without touching the engine (so it is unit-tested on its own):
 *
 *   GET  /?query=SELECT…&default_format=JSON&param_x=…&database=db&<setting>=<value>
 *   POST /?query_id=…&param_x=…&<setting>=…          body: the query
 *   POST /?…   Content-Type: multipart/form-data      parts: query, param_* (large parameters)
 *   credentials: Authorization: Basic, X-ClickHouse-User/-Key headers, or user/password parameters
 *   GET /ping -> "Ok."
 */
export interface QueryRequest {
  readonly query: string;
  /** default_format / X-ClickHouse-Format; undefined = the query's FORMAT clause or TabSeparated. */
  readonly format: string | undefined;
  readonly params: Readonly<Record<string, string>>;
  readonly settings: Readonly<Record<string, string>>;
  readonly database: string | undefined;
  readonly queryId: string | undefined;
  readonly user: string;
  readonly password: string;
  /** enable_http_compression=1 and the client accepts gzip. */
  readonly gzip: boolean;
}

export class RequestRefusal extends Error {
  constructor(
    /** ClickHouse error code and name, as a server would answer. */
    readonly code: number,
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** URL parameters the HTTP layer consumes; they are not engine settings. */
const transportParameters = new Set([
  'query',
  'query_id',
  'default_format',
  'database',
  'user',
  'password',
  'quota_key',
  'session_id',
  'session_timeout',
  'session_check',
  'role',
  'compress',
  'decompress',
  'buffer_size',
  'wait_end_of_query',
  'enable_http_compression',
  'http_zlib_compression_level',
  'http_native_compression_disable_checksumming_on_decompress',
  'send_progress_in_http_headers',
  'http_headers_progress_interval_ms',
  'http_response_buffer_size',
  'cancel_http_readonly_queries_on_client_close',
  // The endpoint always runs with readonly = 1; a client's own value is not applied.
  'readonly',
]);

function header(headers: Readonly<Record<string, string | string[] | undefined>>, name: string) {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** multipart/form-data parts by name (text values), as @clickhouse/client builds them. */
export function parseMultipart(body: string, boundary: string): Map<string, string> {
  const parts = new Map<string, string>();
  for (const chunk of body.split(`--${boundary}`)) {
    if (chunk === '' || chunk.startsWith('--')) continue;
    const headerEnd = chunk.indexOf('\r\n\r\n');
    if (headerEnd < 0) continue;
    const name = /name="([^"]+)"/.exec(chunk.slice(0, headerEnd))?.[1];
    if (!name) continue;
    let value = chunk.slice(headerEnd + 4);
    if (value.endsWith('\r\n')) value = value.slice(0, -2);
    parts.set(name, value);
  }
  return parts;
}

export function parseQueryRequest(input: {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}): QueryRequest {
  const url = new URL(input.url, 'http://localhost');
  const search = url.searchParams;
  const params: Record<string, string> = {};
  const settings: Record<string, string> = {};
  let bodyQuery = input.method === 'POST' ? input.body : '';
  const contentType = header(input.headers, 'content-type') ?? '';
  const multipart = /^multipart\/form-data;\s*boundary=(.+)$/i.exec(contentType);
  if (input.method === 'POST' && multipart?.[1]) {
    const parts = parseMultipart(input.body, multipart[1].replace(/^"|"$/g, ''));
    bodyQuery = parts.get('query') ?? '';
    for (const [name, value] of parts) {
      if (name.startsWith('param_')) params[name.slice(6)] = value;
    }
  }
  for (const [name, value] of search) {
    if (name.startsWith('param_')) {
      params[name.slice(6)] = value;
      continue;
    }
    if (transportParameters.has(name)) continue;
    if (!identifier.test(name)) {
      throw new RequestRefusal(115, 'UNKNOWN_SETTING', 400, `Unknown setting ${JSON.stringify(name)}`);
    }
    settings[name] = value;
  }
  for (const name of Object.keys(params)) {
    if (!identifier.test(name)) {
      throw new RequestRefusal(
        456,
        'UNKNOWN_QUERY_PARAMETER',
        400,
        `Query parameter name ${JSON.stringify(name)} is not an identifier`,
      );
    }
  }
  const urlQuery = search.get('query') ?? '';
  // A server joins the URL part and the body part of a query the same way.
  const query = [urlQuery, bodyQuery].filter((part) => part.trim() !== '').join('\n');
  const database = search.get('database') ?? header(input.headers, 'x-clickhouse-database');
  if (database !== undefined && !identifier.test(database)) {
    throw new RequestRefusal(
      81,
      'UNKNOWN_DATABASE',
      404,
      `Database ${JSON.stringify(database)} does not exist`,
    );
  }
  const format = search.get('default_format') ?? header(input.headers, 'x-clickhouse-format');
  if (format !== undefined && !identifier.test(format)) {
    throw new RequestRefusal(73, 'UNKNOWN_FORMAT', 400, `Unknown format ${JSON.stringify(format)}`);
  }
  let user = search.get('user') ?? header(input.headers, 'x-clickhouse-user') ?? 'default';
  let password = search.get('password') ?? header(input.headers, 'x-clickhouse-key') ?? '';
  const authorization = header(input.headers, 'authorization');
  const basic = authorization ? /^Basic\s+(\S+)$/i.exec(authorization) : null;
  if (basic?.[1]) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    user = colon < 0 ? decoded : decoded.slice(0, colon);
    password = colon < 0 ? '' : decoded.slice(colon + 1);
  }
  const acceptsGzip = /\bgzip\b/.test(header(input.headers, 'accept-encoding') ?? '');
  return {
    query,
    format: format ?? undefined,
    params,
    settings,
    database: database ?? undefined,
    queryId: search.get('query_id') ?? undefined,
    user,
    password,
    gzip: acceptsGzip && search.get('enable_http_compression') === '1',
  };
}

/** Compares credentials in constant time; no configured user means the endpoint is open. */
export function credentialsAccepted(
  request: Pick<QueryRequest, 'user' | 'password'>,
  required: { readonly user: string; readonly password: string },
): boolean {
  if (required.user === '') return true;
  const same = (a: string, b: string) => {
    const x = Buffer.from(a);
    const y = Buffer.from(b);
    return x.length === y.length && timingSafeEqual(x, y);
  };
  return same(request.user, required.user) && same(request.password, required.password);
}

/** A ClickHouse SQL string literal (backslash and quote escaped), for SET statements only. */
export function sqlStringLiteral(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

/** Status a server gives an error code; the body carries the code either way. */
export function statusOfErrorCode(code: number): number {
  if ([164, 497, 516].includes(code)) return 403;
  if ([60, 81].includes(code)) return 404;
  if ([62, 47, 46, 27, 6, 26, 36, 43, 115, 456, 457, 73, 130].includes(code)) return 400;
  if (code === 202) return 503;
  return 500;
}

/** Code and name out of an engine message `Code: N. DB::Exception: … (NAME)`. */
export function parseEngineError(message: string): { code: number; type: string } {
  const code = Number(/Code:\s*(\d+)/.exec(message)?.[1] ?? 1002);
  const type = /\(([A-Z_]+)\)\s*(?:\(version [^)]*\))?\s*$/.exec(message.trim())?.[1] ?? 'UNKNOWN_EXCEPTION';
  return { code, type };
}
