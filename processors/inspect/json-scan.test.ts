import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonStringPath, scanJson } from './json-scan.js';

const LIMITS = { maxDepth: 32, maxNodes: 5000 };

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const TABLE: readonly string[] = [
  '{}',
  '[]',
  ' { "a" : 1 } ',
  '"text"',
  '0',
  '-0.5e+10',
  'true',
  'null',
  '{"a":[1,2,{"b":"c"}],"d":"\\u003cscript\\u003e","e":"\\n\\t\\"x\\""}',
  '[[[[]]]]',
  '{"a":1,}',
  '[1,]',
  '{"a" 1}',
  '{a:1}',
  '01',
  '1.',
  '.5',
  '-',
  '1e',
  '"unterminated',
  '"bad \\x escape"',
  '"\\u12g4"',
  '"raw\u0001control"',
  '{"a":1}{"b":2}',
  '[1 2]',
  'tru',
  'nulls',
  '',
  '   ',
  '{"a":{"b":{"c":[null,false,true,-1.25E-3]}}}',
  '[{},{}]',
  '{"":""}',
  '"\ud800"',
  '\ufeff{}',
];

test('scanJson accepts exactly what JSON.parse accepts', () => {
  for (const text of TABLE)
    assert.equal(
      scanJson(Buffer.from(text), LIMITS).valid,
      parses(text),
      `validity of ${JSON.stringify(text)}`,
    );
});

test('scanJson agrees with JSON.parse on mutated documents', () => {
  const base = JSON.stringify({
    id: 'gw-1',
    readings: [
      { t: 1, v: -2.5e3 },
      { t: 2, v: null, nested: [[{ a: [{}] }], []] },
    ],
    ok: true,
    note: 'a "quoted" \\ word\n',
  });
  const alphabet = '{}[]",:\\ 0-1e.tnfu';
  let seed = 7;
  const next = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed;
  };
  for (let round = 0; round < 3000; round += 1) {
    const at = next() % base.length;
    const mutated =
      next() % 2 === 0
        ? base.slice(0, at) + base.slice(at + 1)
        : base.slice(0, at) + alphabet[next() % alphabet.length] + base.slice(at);
    // Also past the caps, where open containers are kept by kind only.
    for (const limits of [LIMITS, { maxDepth: 1, maxNodes: 3 }])
      assert.equal(
        scanJson(Buffer.from(mutated), limits).valid,
        parses(mutated),
        `validity of ${JSON.stringify(mutated)}`,
      );
  }
});

test('scanJson returns keys and strings with paths and member names, in document order', () => {
  const scan = scanJson(Buffer.from('{"cmd":"id","list":["a",{"k y":"\\u0041"}],"n":1}'), LIMITS);
  assert.deepEqual(
    scan.strings.map((found) => [
      jsonStringPath(found),
      found.text,
      found.key,
      found.key ? undefined : found.member,
    ]),
    [
      ['$.cmd', 'cmd', true, undefined],
      ['$.cmd', 'id', false, 'cmd'],
      ['$.list', 'list', true, undefined],
      ['$.list[0]', 'a', false, undefined],
      ['$.list[1]["k y"]', 'k y', true, undefined],
      ['$.list[1]["k y"]', 'A', false, 'k y'],
      ['$.n', 'n', true, undefined],
    ],
  );
  assert.equal(jsonStringPath(scanJson(Buffer.from('"whole"'), LIMITS).strings[0]!), '$');
  assert.equal(scan.limit, null);
});

test('scanJson stops collecting at the node and depth caps but still checks the whole text', () => {
  const wide = JSON.stringify(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, `v${i}`])));
  const capped = scanJson(Buffer.from(wide), { maxDepth: 32, maxNodes: 10 });
  assert.equal(capped.valid, true);
  assert.equal(capped.limit, 'more than 10 JSON nodes');
  assert.ok(capped.strings.length <= 22);
  assert.equal(scanJson(Buffer.from(`${wide.slice(0, -1)},}`), { maxDepth: 32, maxNodes: 10 }).valid, false);

  const deep = `${'['.repeat(40)}"x"${']'.repeat(40)}`;
  const shallow = scanJson(Buffer.from(deep), { maxDepth: 32, maxNodes: 5000 });
  assert.equal(shallow.valid, true);
  assert.equal(shallow.limit, 'JSON nested deeper than 32');
  assert.deepEqual(shallow.strings, []);
});
