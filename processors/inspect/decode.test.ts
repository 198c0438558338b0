import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeSequenceDecode, htmlEntityDecode, normalise, urlDecode } from './decode.js';

const cases: Array<[string, (s: string) => string, string, string]> = [
  ['URL %XX', urlDecode, '%27%20OR%201%3D1', "' OR 1=1"],
  ['URL + as space', urlDecode, 'union+select', 'union select'],
  ['URL %uXXXX', urlDecode, '%u003cscript', '<script'],
  ['URL overlong UTF-8 slash', urlDecode, '..%c0%af..%c0%af', '../../'],
  ['URL overlong, IIS-lenient second byte', urlDecode, '..%c1%1c%c0%2e%c0%2e%c0%af', '..\\../'],
  ['URL multi-byte UTF-8', urlDecode, 'Caf%C3%A9', 'Café'],
  ['URL other invalid lead byte kept as Latin-1', urlDecode, '%e9t%e9', 'été'],
  ['URL C0 at the end kept', urlDecode, 'a%c0', 'a\u00c0'],
  ['URL C0/C1 leniency only for path characters', urlDecode, '%c0%41%c1%20', '\u00c0A\u00c1 '],
  ['URL lone % kept', urlDecode, '100% sure', '100% sure'],
  ['HTML named', htmlEntityDecode, '&lt;script&gt;', '<script>'],
  ['HTML hex', htmlEntityDecode, '&#x3c;svg', '<svg'],
  ['HTML decimal without ;', htmlEntityDecode, '&#60svg', '<svg'],
  ['HTML unknown name kept', htmlEntityDecode, 'R&D &foo;', 'R&D &foo;'],
  ['escape \\u', escapeSequenceDecode, '\\u003cscript\\u003e', '<script>'],
  ['escape \\x', escapeSequenceDecode, '\\x3cimg', '<img'],
  ['escape \\u{}', escapeSequenceDecode, '\\u{3c}a', '<a'],
];

for (const [name, decode, input, expected] of cases) {
  test(`decodes ${name}: ${JSON.stringify(input)}`, () => {
    assert.equal(decode(input), expected);
  });
}

test('normalise undoes double URL encoding in two passes and lower-cases', () => {
  const result = normalise('%2527%2520OR%25201%253D1');
  assert.equal(result.text, "' or 1=1");
  assert.equal(result.passes, 2);
});

test('normalise folds full-width characters and drops NUL bytes', () => {
  assert.equal(normalise('＜SCRIPT＞\u0000').text, '<script>');
});

test('normalise stops after maxPasses and never exceeds maxChars', () => {
  const deep = '%25252525253C';
  assert.equal(normalise(deep, { maxChars: 100, maxPasses: 3 }).passes, 3);
  const long = normalise('a'.repeat(50_000), { maxChars: 1000, maxPasses: 3 });
  assert.equal(long.text.length, 1000);
  assert.equal(long.truncated, true);
});
