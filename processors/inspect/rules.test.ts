import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSentinelError } from '../../lib/errors.js';
import { catastrophicBacktrackingRisk, compileRules, DEFAULT_RULES, TRANSFORM_FUNCTIONS } from './rules.js';

const risky: Array<[string, boolean]> = [
  ['(a+)+b', true],
  ['(\\w*\\s?)*$', true],
  ['(x{1,5}){2,}', true],
  ['(a|b)\\1', true],
  ['<script[\\s/>]', false],
  ['(?:\\.\\./){2}', false],
  ['(?:/[a-z]{0,3}[?*]){2}', false],
  ['[(+*]+x', false],
  ['(?:sudo\\s{1,10})?id', false],
];

for (const [pattern, refused] of risky) {
  test(`${refused ? 'refuses' : 'accepts'} pattern ${pattern}`, () => {
    assert.equal(catastrophicBacktrackingRisk(pattern) !== null, refused);
  });
}

test('the shipped rules compile, cover the four classes, and pass the backtracking check', () => {
  const classes = new Set(DEFAULT_RULES.map((r) => r.class));
  assert.deepEqual([...classes].sort(), ['command-injection', 'path-traversal', 'sqli', 'xss']);
  for (const rule of DEFAULT_RULES) {
    if (rule.match.type === 'regex')
      assert.equal(catastrophicBacktrackingRisk(rule.match.pattern), null, rule.id);
  }
});

const refusals: Array<[string, unknown, RegExp]> = [
  [
    'an unknown field',
    {
      rules: [
        {
          id: 'X-1',
          class: 'xss',
          severity: 'high',
          description: 'd',
          match: { type: 'sqli-tokens' },
          extra: 1,
        },
      ],
    },
    /rules\[0\]\.extra/,
  ],
  [
    'an unknown class',
    {
      rules: [
        { id: 'X-1', class: 'csrf', severity: 'high', description: 'd', match: { type: 'sqli-tokens' } },
      ],
    },
    /rules\[0\]\.class/,
  ],
  [
    'a nested quantifier',
    {
      rules: [
        {
          id: 'X-1',
          class: 'xss',
          severity: 'high',
          description: 'd',
          match: { type: 'regex', pattern: '(a+)+' },
        },
      ],
    },
    /backtrack/,
  ],
  [
    'a duplicate id',
    {
      rules: [1, 2].map(() => ({
        id: 'X-1',
        class: 'xss',
        severity: 'high',
        description: 'd',
        match: { type: 'sqli-tokens' },
      })),
    },
    /used twice/,
  ],
];

for (const [name, document, message] of refusals) {
  test(`refuses a rules file with ${name}, naming the path`, () => {
    assert.throws(
      () => compileRules(document, 'test.json'),
      (err: unknown) => isSentinelError(err, 'SNT_CONFIG_INVALID') && message.test(err.message),
    );
  });
}

const transforms: Array<[keyof typeof TRANSFORM_FUNCTIONS, string, string]> = [
  ['sqlComments', 'union/**/select', 'union  select'],
  ['sqlComments', '/*!50000union*/ select', ' union  select'],
  ['shell', "c'a't /etc/passwd", 'cat /etc/passwd'],
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell variable, not a template
  ['shell', 'cat${ifs}/etc/passwd', 'cat /etc/passwd'],
  ['shell', '{cat,/etc/passwd}', ';cat /etc/passwd'],
  ['pathSlashes', '..\\..\\windows', '../../windows'],
  ['pathSlashes', '....//....//etc', '../../etc'],
  ['pathSlashes', '..;/x', '../x'],
];

for (const [name, input, expected] of transforms) {
  test(`transform ${name} turns ${JSON.stringify(input)} into ${JSON.stringify(expected)}`, () => {
    assert.equal(TRANSFORM_FUNCTIONS[name](input), expected);
  });
}
