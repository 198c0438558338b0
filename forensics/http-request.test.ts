import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  credentialsAccepted,
  parseEngineError,
  parseMultipart,
  parseQueryRequest,
  RequestRefusal,
  sqlStringLiteral,
} from './http-request.js';

describe('ClickHouse HTTP request parsing', () => {
  it('reads what @clickhouse/client sends for a query: body, param_*, settings, database, format', () => {
    const request = parseQueryRequest({
      method: 'POST',
      url: '/?query_id=q1&param_client=o%5C%27brien&param_limit=10&output_format_json_quote_64bit_integers=1&database=sentinel',
      headers: { authorization: `Basic ${Buffer.from('default:').toString('base64')}` },
      body: 'SELECT * FROM packets WHERE client_id = {client:String} LIMIT {limit:UInt32} \nFORMAT JSONEachRow',
    });
    assert.equal(
      request.query,
      'SELECT * FROM packets WHERE client_id = {client:String} LIMIT {limit:UInt32} \nFORMAT JSONEachRow',
    );
    assert.deepEqual(request.params, { client: "o\\'brien", limit: '10' });
    assert.deepEqual(request.settings, { output_format_json_quote_64bit_integers: '1' });
    assert.equal(request.database, 'sentinel');
    assert.equal(request.queryId, 'q1');
    assert.equal(request.user, 'default');
    assert.equal(request.password, '');
  });

  it('reads a GET with the query and default_format in the URL, and curl-style credentials', () => {
    const request = parseQueryRequest({
      method: 'GET',
      url: '/?query=SELECT%201&default_format=JSON&user=analyst&password=s3cret',
      headers: {},
      body: '',
    });
    assert.equal(request.query, 'SELECT 1');
    assert.equal(request.format, 'JSON');
    assert.deepEqual([request.user, request.password], ['analyst', 's3cret']);
  });

  it('reads large parameters from a multipart body', () => {
    const boundary = '----clickhouse-js-1';
    const body = `--${boundary}\r\nContent-Disposition: form-data; name="query"\r\n\r\nSELECT {ids:Array(String)}\r\n--${boundary}\r\nContent-Disposition: form-data; name="param_ids"\r\n\r\n['a','b']\r\n--${boundary}--\r\n`;
    const request = parseQueryRequest({
      method: 'POST',
      url: '/?query_id=q2',
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      body,
    });
    assert.equal(request.query, 'SELECT {ids:Array(String)}');
    assert.deepEqual(request.params, { ids: "['a','b']" });
    assert.deepEqual([...parseMultipart(body, boundary).keys()], ['query', 'param_ids']);
  });

  it('takes credentials from X-ClickHouse-User/-Key and ignores the client’s own readonly value', () => {
    const request = parseQueryRequest({
      method: 'POST',
      url: '/?readonly=0&wait_end_of_query=1&enable_http_compression=1',
      headers: { 'x-clickhouse-user': 'u', 'x-clickhouse-key': 'k', 'accept-encoding': 'gzip' },
      body: 'SELECT 1',
    });
    assert.deepEqual(request.settings, {});
    assert.equal(request.gzip, true);
    assert.ok(credentialsAccepted(request, { user: 'u', password: 'k' }));
    assert.ok(!credentialsAccepted(request, { user: 'u', password: 'other' }));
    assert.ok(credentialsAccepted(request, { user: '', password: '' }), 'no user configured: open');
  });

  const refusals: [string, string, number][] = [
    ['/?database=x%3BDROP', 'UNKNOWN_DATABASE', 81],
    ['/?default_format=JSON%20x', 'UNKNOWN_FORMAT', 73],
    ['/?bad-setting=1', 'UNKNOWN_SETTING', 115],
    ['/?param_a%3Bb=1', 'UNKNOWN_QUERY_PARAMETER', 456],
  ];
  for (const [url, type, code] of refusals) {
    it(`refuses ${url} as ${type}`, () => {
      assert.throws(
        () => parseQueryRequest({ method: 'POST', url, headers: {}, body: 'SELECT 1' }),
        (err: unknown) => err instanceof RequestRefusal && err.type === type && err.code === code,
      );
    });
  }

  it('quotes SET values so a parameter cannot end its literal', () => {
    assert.equal(sqlStringLiteral("a'b\\"), "'a\\'b\\\\'");
  });

  it('reads code and name out of an engine message', () => {
    assert.deepEqual(
      parseEngineError(
        'Code: 164. DB::Exception: default: Cannot execute query in readonly mode. (READONLY)',
      ),
      {
        code: 164,
        type: 'READONLY',
      },
    );
    assert.deepEqual(parseEngineError('something else'), { code: 1002, type: 'UNKNOWN_EXCEPTION' });
  });
});
