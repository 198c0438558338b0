import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Decision, Finding, FindingAction } from '../model.js';
import { decide } from './verdict.js';

const finding = (action: FindingAction, shadow = false): Finding => ({
  ruleId: 'R',
  class: 'sqli',
  stage: 'patterns',
  severity: 'high',
  action,
  evidence: '',
  location: 'topic',
  shadow,
});

const cases: Array<[string, Finding[], Decision, Decision]> = [
  ['no findings', [], 'allow', 'allow'],
  ['a flag', [finding('flag')], 'allow', 'allow'],
  ['quarantine and flag', [finding('quarantine'), finding('flag')], 'quarantine', 'quarantine'],
  ['block beats quarantine', [finding('quarantine'), finding('block')], 'block', 'block'],
  ['a shadow block', [finding('block', true)], 'allow', 'block'],
  [
    'a shadow block and an enforced quarantine',
    [finding('block', true), finding('quarantine')],
    'quarantine',
    'block',
  ],
];

for (const [name, findings, decision, ifEnforced] of cases) {
  test(`verdict: ${name} -> ${decision} (enforced: ${ifEnforced})`, () => {
    assert.equal(decide(findings, false), decision);
    assert.equal(decide(findings, true), ifEnforced);
  });
}
