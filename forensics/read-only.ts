/**
 * The first line of the read-only rule for ad-hoc SQL (`sentinel forensics sql`, the query
 * endpoint): one statement, and it must start with a reading keyword. The engine's readonly=1
 * setting is the second line and the one that cannot be talked around; this check exists to refuse
 * early with a clear reason and to keep several statements from travelling in one request.
 *
 * The scan knows ClickHouse's lexical shapes that can hide a keyword or a semicolon: 'strings'
 * (backslash escapes and doubled quotes), "identifiers", `identifiers`, -- and # line comments, and
 * /* block comments *\/.
 */
export const readingKeywords = ['SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXPLAIN', 'EXISTS'] as const;

export type StatementCheck =
  | { readonly ok: true; readonly statement: string; readonly keyword: string }
  | { readonly ok: false; readonly reason: string };

interface Scan {
  /** Words outside strings, quoted identifiers and comments, in order (upper case), at most a few. */
  readonly words: string[];
  /** Index of each top-level semicolon. */
  readonly semicolons: number[];
  /** Index just past the last character that is not whitespace or comment. */
  readonly end: number;
  readonly unterminated: string | null;
}

function scan(sql: string, wordLimit: number): Scan {
  const words: string[] = [];
  const semicolons: number[] = [];
  let end = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      while (i < n && sql[i] !== '\n') i += 1;
      continue;
    }
    if (c === '#') {
      while (i < n && sql[i] !== '\n') i += 1;
      continue;
    }
    if (c === '/' && next === '*') {
      const close = sql.indexOf('*/', i + 2);
      if (close < 0) return { words, semicolons, end, unterminated: 'block comment' };
      i = close + 2;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      for (;;) {
        if (j >= n) return { words, semicolons, end, unterminated: c === "'" ? 'string' : 'identifier' };
        const d = sql[j];
        if (d === '\\') {
          j += 2;
          continue;
        }
        if (d === c) {
          if (sql[j + 1] === c) {
            j += 2;
            continue;
          }
          break;
        }
        j += 1;
      }
      i = j + 1;
      end = i;
      continue;
    }
    if (c === ';') {
      semicolons.push(i);
      i += 1;
      continue;
    }
    if (/\s/.test(c)) {
      i += 1;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(sql[j] as string)) j += 1;
      if (words.length < wordLimit) words.push(sql.slice(i, j).toUpperCase());
      i = j;
      end = i;
      continue;
    }
    i += 1;
    end = i;
  }
  return { words, semicolons, end, unterminated: null };
}

export function checkReadOnlyStatement(sql: string): StatementCheck {
  const result = scan(sql, 1);
  if (result.unterminated) return { ok: false, reason: `unterminated ${result.unterminated}` };
  const [keyword] = result.words;
  if (!keyword) return { ok: false, reason: 'empty statement' };
  // A semicolon is allowed only as the terminator: nothing but whitespace and comments after it.
  if (result.semicolons.some((at) => at < result.end)) {
    return { ok: false, reason: 'one statement per query (found ; followed by more text)' };
  }
  if (!(readingKeywords as readonly string[]).includes(keyword)) {
    return {
      ok: false,
      reason: `only reading statements are allowed (${readingKeywords.join(', ')}); this one starts with ${keyword}`,
    };
  }
  const statement = sql.slice(0, result.end).trim();
  return { ok: true, statement, keyword };
}
