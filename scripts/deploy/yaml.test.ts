import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseYamlDocuments, YamlError } from './yaml.js';

describe('the strict YAML reader of the deployment tests', () => {
  const reads: [string, string, unknown][] = [
    [
      'a mapping with core-schema scalars',
      'a: 1\nb: "1"\nc: true\nd: 0.3\ne: 0.0.0.0\nf: ~\n',
      { a: 1, b: '1', c: true, d: 0.3, e: '0.0.0.0', f: null },
    ],
    ['a sequence at its key’s indent', 'k:\n- a\n- b: 1\n  c: 2\n', { k: ['a', { b: 1, c: 2 }] }],
    ['quoted scalars and comments', "a: 'it''s' # c\nb: \"x # y\"\n", { a: "it's", b: 'x # y' }],
    ['a literal block keeps its lines', 'a: |\n  x: 1\n    y\n\nb: 2\n', { a: 'x: 1\n  y\n', b: 2 }],
    ['a stripped literal block', 'a: |-\n  x\n', { a: 'x' }],
    ['a folded block', 'a: >\n  x\n  y\n', { a: 'x y\n' }],
    ['a flow sequence over lines, trailing comma', 'a:\n  [\n    "x",\n    y,\n  ]\n', { a: ['x', 'y'] }],
    ['an empty mapping', 'a: {}\n', { a: {} }],
  ];
  for (const [name, text, expected] of reads) {
    it(`reads ${name}`, () => assert.deepEqual(parseYamlDocuments(text)[0], expected));
  }

  it('splits documents on ---', () => {
    assert.deepEqual(parseYamlDocuments('a: 1\n---\n# only a comment\n---\nb: 2\n'), [{ a: 1 }, { b: 2 }]);
  });

  const refusals: [string, string][] = [
    ['an anchor', 'a: &x 1\n'],
    ['an alias', 'a: *x\n'],
    ['a tag', 'a: !!str 1\n'],
    ['a duplicate key', 'a: 1\na: 2\n'],
    ['a multi-line plain scalar', 'a:\n  x\n  y\n'],
    ['a tab in indentation', 'a:\n\tb: 1\n'],
    ['an unterminated quote', 'a: "x\n'],
    ['a flow mapping', 'a: {b: 1}\n'],
  ];
  for (const [name, text] of refusals) {
    it(`refuses ${name}`, () => assert.throws(() => parseYamlDocuments(text), YamlError));
  }
});
