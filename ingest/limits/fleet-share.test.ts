import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waterFill } from './fleet-share.js';

const close = (actual: number[], expected: number[]) => {
  assert.equal(actual.length, expected.length);
  actual.forEach((value, i) => {
    assert.ok(Math.abs(value - expected[i]!) < 1e-9, `${actual} vs ${expected}`);
  });
};

describe('waterFill (the global budget split among live proxies)', () => {
  const rows: Array<[string, number[], number[]]> = [
    ['one proxy holds everything', [5], [1]],
    ['two idle proxies split equally', [0, 0], [0.5, 0.5]],
    ['two flooded proxies split equally', [3, 9], [0.5, 0.5]],
    ['an idle proxy leaves its share to a busy one', [0, 3], [0, 1]],
    ['a quiet proxy gets what it asks; the flooded one the rest', [0.2, 5], [0.2, 0.8]],
    ['spare budget is spread equally as headroom', [0.1, 0.3], [0.4, 0.6]],
    ['max-min fair across three', [0.1, 2, 2], [0.1, 0.45, 0.45]],
    ['no live proxies, no shares', [], []],
  ];
  for (const [what, demands, shares] of rows) {
    it(what, () => close(waterFill(demands), shares));
  }

  it('always hands out exactly the whole budget', () => {
    for (const demands of [[0.3], [0.9, 0.9, 0.9], [0, 0, 7], [0.01, 0.02, 0.5, 10]]) {
      const total = waterFill(demands).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(total - 1) < 1e-9);
    }
  });
});
