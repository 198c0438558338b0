import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkReadOnlyStatement } from './read-only.js';

describe('read-only statement check', () => {
  const accepted: [string, string][] = [
    ['SELECT 1', 'SELECT 1'],
    ['  with x AS (SELECT 1) SELECT * FROM x;  ', 'with x AS (SELECT 1) SELECT * FROM x'],
    ['(SELECT 1) UNION ALL (SELECT 2)', '(SELECT 1) UNION ALL (SELECT 2)'],
    ["SELECT 'a;b' -- trailing; comment", "SELECT 'a;b'"],
    ['-- why\nSHOW TABLES', '-- why\nSHOW TABLES'],
    ['DESCRIBE packets', 'DESCRIBE packets'],
    ['EXPLAIN SELECT 1', 'EXPLAIN SELECT 1'],
    ["SELECT 'it''s; \\' DROP'", "SELECT 'it''s; \\' DROP'"],
    ['SELECT `weird;name` FROM t /* ; */', 'SELECT `weird;name` FROM t'],
  ];
  for (const [sql, statement] of accepted) {
    it(`accepts ${JSON.stringify(sql)}`, () => {
      const result = checkReadOnlyStatement(sql);
      assert.equal(result.ok, true);
      if (result.ok) assert.equal(result.statement, statement);
    });
  }

  const refused: [string, RegExp][] = [
    ['DROP TABLE packets', /starts with DROP/],
    ["INSERT INTO packets VALUES ('x')", /starts with INSERT/],
    ['SELECT 1; DROP TABLE packets', /one statement/],
    ['/* SELECT */ ALTER TABLE packets DELETE WHERE 1', /starts with ALTER/],
    ['SET readonly = 0', /starts with SET/],
    ["SELECT 'unterminated", /unterminated string/],
    ['   ', /empty statement/],
    ['-- only a comment', /empty statement/],
  ];
  for (const [sql, reason] of refused) {
    it(`refuses ${JSON.stringify(sql)}`, () => {
      const result = checkReadOnlyStatement(sql);
      assert.equal(result.ok, false);
      if (!result.ok) assert.match(result.reason, reason);
    });
  }
});
