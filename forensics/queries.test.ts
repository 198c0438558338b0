import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSentinelError } from '../lib/errors.js';
import { namedQueryList, parseInstant, parseInterval, prepareNamedQuery } from './queries.js';

const now = Date.parse('2026-06-01T12:00:00Z');

describe('named forensic queries', () => {
  it('binds the analyst’s input as parameters, never in the SQL text', () => {
    const hostile = "x' OR 1=1 --";
    const prepared = prepareNamedQuery('device-timeline', { positional: [hostile], since: '2h' }, now);
    assert.ok(!prepared.sql.includes(hostile));
    assert.match(prepared.sql, /client_id = \{client:String\}/);
    assert.deepEqual(prepared.params, {
      client: hostile,
      since: '2026-06-01 10:00:00.000',
      until: '2026-06-01 12:00:00.000',
      limit: 1000,
    });
  });

  it('every named query prepares with its usage', () => {
    const examples: Record<string, string[]> = {
      'device-timeline': ['c1'],
      'top-offenders': [],
      'findings-by-rule': [],
      'auth-failures-by-ip': [],
      'payload-search': ['needle'],
      'message-path': ['e1'],
      sql: ['SELECT 1'],
    };
    for (const { name } of namedQueryList) {
      const prepared = prepareNamedQuery(name, { positional: examples[name] ?? [] }, now);
      assert.equal(prepared.name, name);
      assert.equal(prepared.adHoc, name === 'sql');
    }
  });

  it('top-offenders counts blocks and quarantines, not the reviews of a quarantine', () => {
    const { sql } = prepareNamedQuery('top-offenders', { positional: [] }, now);
    assert.match(sql, /WHERE decision IN \('block', 'quarantine'\) AND/);
    assert.doesNotMatch(sql, /released|dropped|expired/);
    assert.match(
      prepareNamedQuery('findings-by-rule', { positional: [] }, now).sql,
      /decision IN \('allow', 'block', 'quarantine'\)/,
    );
  });

  it('quarantine and quarantine-decisions bind --client as a parameter, and only when it is given', () => {
    for (const name of ['quarantine', 'quarantine-decisions']) {
      const all = prepareNamedQuery(name, { positional: [], since: '2h' }, now);
      assert.doesNotMatch(all.sql, /\{client:String\}/, name);
      assert.deepEqual(all.params, {
        since: '2026-06-01 10:00:00.000',
        until: '2026-06-01 12:00:00.000',
        limit: 1000,
      });
      const hostile = "x' OR 1=1 --";
      const one = prepareNamedQuery(name, { positional: [], client: hostile }, now);
      assert.ok(!one.sql.includes(hostile), name);
      assert.match(one.sql, /client_id = \{client:String\}/, name);
      assert.equal(one.params.client, hostile);
    }
    assert.match(prepareNamedQuery('quarantine', { positional: [] }, now).sql, /FROM held_messages FINAL/);
  });

  it('payload-search takes a substring or --rule, not both', () => {
    assert.ok(
      prepareNamedQuery('payload-search', { positional: [], rule: 'sqli-1' }, now).sql.includes(
        '{rule:String}',
      ),
    );
    assert.throws(
      () => prepareNamedQuery('payload-search', { positional: ['x'], rule: 'sqli-1' }, now),
      /not both/,
    );
  });

  it('reads times as durations ago, ISO 8601 (UTC unless zoned) or now', () => {
    assert.equal(parseInstant('15m', now, '--since'), now - 15 * 60_000);
    assert.equal(parseInstant('2w', now, '--since'), now - 14 * 86_400_000);
    assert.equal(parseInstant('2026-05-31', now, '--since'), Date.parse('2026-05-31T00:00:00Z'));
    assert.equal(parseInstant('2026-05-31 08:30', now, '--since'), Date.parse('2026-05-31T08:30:00Z'));
    assert.equal(
      parseInstant('2026-05-31T08:30:00+02:00', now, '--since'),
      Date.parse('2026-05-31T06:30:00Z'),
    );
    assert.equal(parseInstant('now', now, '--until'), now);
    assert.equal(parseInterval('15m'), 900);
  });

  const invalid: [string, string, Parameters<typeof prepareNamedQuery>[1], RegExp][] = [
    ['an unknown name', 'nope', { positional: [] }, /unknown query "nope"/],
    ['a malformed time', 'top-offenders', { positional: [], since: 'last tuesday' }, /is not a time/],
    ['a date that does not exist', 'top-offenders', { positional: [], since: '2026-02-30' }, /is not a time/],
    ['an empty window', 'top-offenders', { positional: [], since: '1h', until: '2h' }, /window is empty/],
    ['a bad interval', 'findings-by-rule', { positional: [], interval: '0s' }, /not an interval/],
    ['a foreign option', 'message-path', { positional: ['e'], since: '1h' }, /does not take --since/],
    [
      '--client where it is not an option',
      'top-offenders',
      { positional: [], client: 'c' },
      /does not take --client/,
    ],
    ['an empty --client', 'quarantine', { positional: [], client: '' }, /--client is required/],
    ['an argument to quarantine', 'quarantine', { positional: ['c'] }, /expects 0 argument/],
    ['--client in sql', 'sql', { positional: ['SELECT 1'], client: 'c' }, /sql does not take --client/],
    ['a missing argument', 'device-timeline', { positional: [] }, /expects 1 argument/],
    ['a bad limit', 'top-offenders', { positional: [], limit: '-5' }, /--limit/],
    ['a write in sql', 'sql', { positional: ['DELETE FROM packets WHERE 1'] }, /only reading statements/],
    ['a FORMAT clause in sql', 'sql', { positional: ['SELECT 1 FORMAT CSV'] }, /FORMAT clause/],
  ];
  for (const [what, name, args, reason] of invalid) {
    it(`refuses ${what} with SNT_FORENSICS_QUERY_INVALID`, () => {
      assert.throws(
        () => prepareNamedQuery(name, args, now),
        (err: unknown) => isSentinelError(err, 'SNT_FORENSICS_QUERY_INVALID') && reason.test(err.message),
      );
    });
  }
});
