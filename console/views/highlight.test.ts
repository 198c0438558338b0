import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { highlightedText, markedSpans } from './highlight.js';

const h = (start: number, end: number, ruleId = 'r1') => ({ start, end, ruleId });

describe('markedSpans', () => {
  it('merges overlapping spans, keeping every rule once, and leaves disjoint and touching ones apart', () => {
    const text = 'abcdefghijklmnop';
    assert.deepEqual(
      markedSpans(text, [h(8, 10, 'c'), h(2, 5, 'a'), h(4, 7, 'b'), h(3, 4, 'a'), h(10, 12, 'd')]),
      [
        { start: 2, end: 7, ruleIds: ['a', 'b'] },
        { start: 8, end: 10, ruleIds: ['c'] },
        { start: 10, end: 12, ruleIds: ['d'] },
      ],
    );
  });

  it('merges a span contained in another', () => {
    assert.deepEqual(markedSpans('0123456789', [h(1, 9, 'outer'), h(3, 4, 'inner')]), [
      { start: 1, end: 9, ruleIds: ['outer', 'inner'] },
    ]);
  });

  it('clips spans to the text and drops empty, reversed and non-numeric ones', () => {
    assert.deepEqual(
      markedSpans('abcdef', [h(-3, 2), h(4, 99, 'r2'), h(3, 3), h(5, 1), h(Number.NaN, 2), h(50, 60)]),
      [
        { start: 0, end: 2, ruleIds: ['r1'] },
        { start: 4, end: 6, ruleIds: ['r2'] },
      ],
    );
  });

  it('never splits a surrogate pair: a span ending or starting inside one takes the whole character', () => {
    const text = 'a😀b😀c'; // a=0, 😀=1..2, b=3, 😀=4..5, c=6
    assert.deepEqual(markedSpans(text, [h(2, 5)]), [{ start: 1, end: 6, ruleIds: ['r1'] }]);
    const [span] = markedSpans(text, [h(0, 2)]);
    assert.equal(text.slice(span!.start, span!.end), 'a😀');
  });
});

describe('highlightedText', () => {
  it('marks spans at the very start and the very end', () => {
    assert.equal(
      highlightedText('DROP x TABLE', [h(0, 4, 'sql-drop'), h(7, 12, 'sql-table')]).toString(),
      '<mark data-rule="sql-drop" title="Matched by sql-drop">DROP</mark> x <mark data-rule="sql-table" title="Matched by sql-table">TABLE</mark>',
    );
  });

  it('escapes the text inside and outside marks, and the rule ids', () => {
    const text = '<b>x</b><script>alert(1)</script>';
    const out = highlightedText(text, [h(8, 16, '"><script>')]).toString();
    assert.equal(
      out,
      '&lt;b&gt;x&lt;/b&gt;<mark data-rule="&quot;&gt;&lt;script&gt;" title="Matched by &quot;&gt;&lt;script&gt;">&lt;script&gt;</mark>alert(1)&lt;/script&gt;',
    );
  });

  it('lists every rule of a merged span in data-rule', () => {
    const out = highlightedText('0123456789', [h(1, 5, 'xss-a'), h(3, 8, 'xss-b')]).toString();
    assert.equal(out, '0<mark data-rule="xss-a xss-b" title="Matched by xss-a, xss-b">1234567</mark>89');
  });

  it('leaves text without highlights whole (escaped)', () => {
    assert.equal(highlightedText('a<b', []).toString(), 'a&lt;b');
    assert.equal(highlightedText('', [h(0, 3)]).toString(), '');
  });

  it('keeps emoji whole inside the marks', () => {
    const out = highlightedText('x😀y', [h(2, 3)]).toString();
    assert.equal(out, 'x<mark data-rule="r1" title="Matched by r1">😀</mark>y');
  });
});
