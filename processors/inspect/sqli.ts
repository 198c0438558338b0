/**
 * SQL injection by tokens, not by regular expressions (the libinjection idea): the text is split
 * into SQL tokens and flagged only when the token sequence has the shape of an injection, such as
 * a string break followed by a tautology or a comment, UNION SELECT, a stacked statement, or a
 * time/error function in an expression. Words like 'select', 'or', 'update' in ordinary telemetry
 * text do not form those shapes, which is what keeps false positives low.
 *
 * The text is tried in three contexts, as the payload may land in SQL as a number or bare word,
 * inside a '...' string, or inside a "..." string: for the quoted contexts the part before the
 * first quote is the string being closed and the rest is read as code.
 * Cost: one linear tokenizer pass per context and a linear scan of the tokens.
 */

type TokenKind =
  | 'string'
  | 'number'
  | 'word'
  | 'keyword'
  | 'logic'
  | 'union'
  | 'statement'
  | 'compare'
  | 'operator'
  | 'variable'
  | 'open'
  | 'close'
  | 'comma'
  | 'semicolon'
  | 'comment';

interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly start: number;
  /** A string token whose closing quote was not found. */
  readonly open?: boolean;
}

const LOGIC = new Set(['and', 'or', 'xor', 'not', '&&', '||']);
const STATEMENTS = new Set([
  'select',
  'insert',
  'update',
  'delete',
  'drop',
  'create',
  'alter',
  'truncate',
  'exec',
  'execute',
  'declare',
  'shutdown',
  'grant',
  'waitfor',
]);
const COMPARE_WORDS = new Set([
  'like',
  'rlike',
  'ilike',
  'regexp',
  'similar',
  'glob',
  'is',
  'in',
  'between',
  'sounds',
]);
const KEYWORDS = new Set([
  'from',
  'where',
  'order',
  'group',
  'by',
  'having',
  'limit',
  'offset',
  'into',
  'outfile',
  'dumpfile',
  'values',
  'set',
  'table',
  'database',
  'all',
  'distinct',
  'null',
  'true',
  'false',
  'case',
  'when',
  'then',
  'else',
  'end',
  'delay',
  'procedure',
  'join',
]);
/** Timing functions: a value that is only a call of one is a blind-injection probe. */
const TIMING_FUNCTIONS = new Set(['sleep', 'pg_sleep', 'benchmark', 'randomblob', 'dbms_lock.sleep']);

/** Functions whose only business in a payload is timing or error-based extraction. */
const ATTACK_FUNCTIONS = new Set([
  'sleep',
  'benchmark',
  'pg_sleep',
  'extractvalue',
  'updatexml',
  'load_file',
  'name_const',
  'xp_cmdshell',
  'dbms_pipe.receive_message',
  'utl_inaddr.get_host_address',
  'utl_http.request',
  'randomblob',
  'sys_eval',
  'exp',
  'geometrycollection',
  'multipoint',
  'polygon',
  'gtid_subset',
  'json_keys',
  'ctxsys.drithsx.sn',
  'dbms_lock.sleep',
]);

function isWordChar(code: number): boolean {
  return (
    (code >= 97 && code <= 122) ||
    (code >= 65 && code <= 90) ||
    (code >= 48 && code <= 57) ||
    code === 95 ||
    code === 36 ||
    code === 46 ||
    code > 127
  );
}

function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

function isSpace(code: number): boolean {
  return code === 32 || (code >= 9 && code <= 13) || code === 160;
}

const OPERATOR_CHARS = '=<>!+-*/%|&^~:';

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = text.length;
  let versionedComments = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    const ch = text[i]!;
    if (isSpace(c)) {
      i += 1;
      continue;
    }
    const start = i;
    if (ch === "'" || ch === '"' || ch === '`') {
      let j = i + 1;
      let closed = false;
      while (j < n) {
        const d = text[j];
        if (d === '\\') j += 2;
        else if (d === ch && text[j + 1] === ch) j += 2;
        else if (d === ch) {
          closed = true;
          break;
        } else j += 1;
      }
      const end = Math.min(j, n);
      tokens.push({
        kind: ch === '`' ? 'word' : 'string',
        text: text.slice(i + 1, end),
        start,
        open: !closed,
      });
      i = closed ? end + 1 : n;
      continue;
    }
    if (ch === '-' && text[i + 1] === '-') {
      const eol = text.indexOf('\n', i);
      tokens.push({ kind: 'comment', text: '--', start });
      i = eol === -1 ? n : eol;
      continue;
    }
    if (ch === '#') {
      const eol = text.indexOf('\n', i);
      tokens.push({ kind: 'comment', text: '#', start });
      i = eol === -1 ? n : eol;
      continue;
    }
    if (ch === '/' && text[i + 1] === '*') {
      if (text[i + 2] === '!') {
        // MySQL executes /*!50000 ... */ as code: skip the marker and the version, read the inside.
        i += 3;
        while (i < n && isDigit(text.charCodeAt(i))) i += 1;
        versionedComments += 1;
        continue;
      }
      const close = text.indexOf('*/', i + 2);
      tokens.push({ kind: 'comment', text: '/**/', start });
      i = close === -1 ? n : close + 2;
      continue;
    }
    if (ch === '*' && text[i + 1] === '/' && versionedComments > 0) {
      versionedComments -= 1;
      i += 2;
      continue;
    }
    if (ch === '(') {
      tokens.push({ kind: 'open', text: ch, start });
      i += 1;
      continue;
    }
    if (ch === ')') {
      tokens.push({ kind: 'close', text: ch, start });
      i += 1;
      continue;
    }
    if (ch === ',') {
      tokens.push({ kind: 'comma', text: ch, start });
      i += 1;
      continue;
    }
    if (ch === ';') {
      tokens.push({ kind: 'semicolon', text: ch, start });
      i += 1;
      continue;
    }
    if (ch === '@') {
      let j = i + 1;
      if (text[j] === '@') j += 1;
      while (j < n && isWordChar(text.charCodeAt(j))) j += 1;
      tokens.push({ kind: 'variable', text: text.slice(i, j), start });
      i = j;
      continue;
    }
    if (isDigit(c) || (ch === '.' && isDigit(text.charCodeAt(i + 1)))) {
      let j = i + 1;
      while (j < n && (isWordChar(text.charCodeAt(j)) || text[j] === '.')) j += 1;
      const word = text.slice(i, j);
      // '1union' or '0x7e' still start as numbers; a digit-led word is a number unless it is mostly letters.
      tokens.push({
        kind: /^[0-9.]+(e\d+)?$|^0x[0-9a-f]+$/.test(word) ? 'number' : 'word',
        text: word,
        start,
      });
      i = j;
      continue;
    }
    if (OPERATOR_CHARS.includes(ch)) {
      let j = i + 1;
      while (
        j < n &&
        j - i < 3 &&
        OPERATOR_CHARS.includes(text[j]!) &&
        text[j] !== '-' &&
        !(text[j] === '/' && text[j + 1] === '*')
      )
        j += 1;
      const op = text.slice(i, j);
      if (op === '&&' || op === '||') tokens.push({ kind: 'logic', text: op, start });
      // `~`, `~*`, `!~`: PostgreSQL's regular-expression match, the REGEXP of a probe.
      else if (/^(=|==|<|>|<=|>=|<>|!=|<=>|~|~\*|!~|!~\*)$/.test(op))
        tokens.push({ kind: 'compare', text: op, start });
      else tokens.push({ kind: 'operator', text: op, start });
      i = j;
      continue;
    }
    if (isWordChar(c)) {
      let j = i + 1;
      while (j < n && isWordChar(text.charCodeAt(j))) j += 1;
      const word = text.slice(i, j);
      let kind: TokenKind = 'word';
      if (LOGIC.has(word)) kind = 'logic';
      else if (word === 'union') kind = 'union';
      else if (STATEMENTS.has(word)) kind = 'statement';
      else if (COMPARE_WORDS.has(word)) kind = 'compare';
      else if (KEYWORDS.has(word)) kind = 'keyword';
      tokens.push({ kind, text: word, start });
      i = j;
      continue;
    }
    // Any other punctuation separates tokens but carries no SQL meaning here.
    tokens.push({ kind: 'operator', text: ch, start });
    i += 1;
  }
  return tokens;
}

export interface SqliMatch {
  /** Which shape matched, for the finding's evidence. */
  readonly shape: string;
  /** Offset in the inspected text where the shape starts. */
  readonly offset: number;
}

function isLiteral(t: Token | undefined): boolean {
  return (
    t !== undefined &&
    (t.kind === 'number' ||
      t.kind === 'string' ||
      (t.kind === 'keyword' && (t.text === 'null' || t.text === 'true' || t.text === 'false')))
  );
}

function isOperand(t: Token | undefined): boolean {
  return t !== undefined && (isLiteral(t) || t.kind === 'word' || t.kind === 'variable');
}

/** Index of the first token at or after `from` that is not an opening parenthesis. */
function skipOpen(code: readonly Token[], from: number): number {
  let i = from;
  while (code[i]?.kind === 'open') i += 1;
  return i;
}

/** A function call: a word (or known attack function) directly followed by '('. */
function isCall(code: readonly Token[], i: number): boolean {
  const t = code[i];
  return (
    t !== undefined &&
    (t.kind === 'word' || t.kind === 'keyword' || t.kind === 'statement') &&
    code[i + 1]?.kind === 'open'
  );
}

function isAttackCall(code: readonly Token[], i: number): boolean {
  return isCall(code, i) && ATTACK_FUNCTIONS.has(code[i]!.text);
}

/** After a logical operator: `1=1`, `'a'='a'`, `x=x`, `sleep(5)`, `(select ...)`. */
function expressionAfterLogic(code: readonly Token[], from: number): boolean {
  const i = skipOpen(code, from);
  const left = code[i];
  if (left === undefined) return false;
  if (isAttackCall(code, i) || (left.kind === 'statement' && statementHasBody(code, i))) return true;
  const op = code[i + 1];
  const right = code[i + 2];
  if (op?.kind === 'compare' && right !== undefined) {
    const rightIndex = skipOpen(code, i + 2);
    const r = code[rightIndex];
    if (r?.kind === 'statement' || isAttackCall(code, rightIndex)) return true;
    if (isLiteral(left) && isLiteral(r)) return true;
    if (isOperand(left) && r !== undefined && r.kind === left.kind && r.text === left.text) return true;
  }
  return false;
}

/**
 * After a string break (or a number) and AND/OR: a condition an attacker probes with rather than a
 * tautology. `' or passwd<>''`, `' and 117/9=13`, `' or serial like '%`, `' and role is not null`,
 * `1 and length(passwd)>2`, `' and (case when ...`, `1 or true`. Prose after an apostrophe does not
 * start with AND/OR, so this only reads text already shaped like an injection.
 */
function conditionAfterLogic(code: readonly Token[], from: number): boolean {
  let i = skipOpen(code, from);
  if (code[i]?.text === 'not') i = skipOpen(code, i + 1);
  const first = code[i];
  if (first === undefined) return false;
  if (first.text === 'case' && code[i + 1]?.text === 'when') return true;
  if (isCall(code, i)) return true;
  if (
    (first.text === 'true' || first.text === 'false') &&
    (code[i + 1] === undefined || code[i + 1]?.kind === 'semicolon')
  )
    return true;
  // A comparison within the next few tokens, before another AND/OR: `col <> ''`, `3+1=4`, `x not like`.
  for (let j = i + 1; j < code.length && j <= i + 6; j += 1) {
    const t = code[j]!;
    if (t.kind === 'compare')
      return isOperand(code[j - 1]) || code[j - 1]?.kind === 'close' || code[j - 1]?.text === 'not';
    if ((t.kind === 'logic' && t.text !== 'not') || t.kind === 'semicolon' || t.kind === 'comma')
      return false;
  }
  return false;
}

/** A statement keyword that is followed by what that statement needs, so '; update pending' is prose. */
function statementHasBody(code: readonly Token[], i: number): boolean {
  const t = code[i]!;
  const next = code[i + 1];
  const next2 = code[i + 2];
  switch (t.text) {
    case 'select':
      return selectHasBody(code, i);
    case 'insert':
      return next?.text === 'into';
    case 'update':
      return next?.kind === 'word' && next2?.text === 'set';
    case 'delete':
      return next?.text === 'from';
    case 'drop':
    case 'create':
    case 'alter':
    case 'truncate':
      return (
        next?.text === 'table' ||
        next?.text === 'database' ||
        next?.text === 'user' ||
        next?.text === 'procedure'
      );
    case 'exec':
    case 'execute':
      return next !== undefined && (next.kind === 'word' || next.kind === 'open' || next.kind === 'variable');
    case 'declare':
      return next?.kind === 'variable';
    case 'shutdown':
      return next === undefined || next.kind === 'semicolon' || next.kind === 'comment';
    case 'waitfor':
      return next?.text === 'delay' || next?.text === 'time';
    case 'grant':
      return next?.kind === 'word' || next?.text === 'all';
    default:
      return false;
  }
}

/** `select *`, `select a, b from`, `select null`, `select 1`, `select @@version`, `select f(...)`. */
function selectHasBody(code: readonly Token[], i: number): boolean {
  let j = i + 1;
  if (code[j]?.text === 'all' || code[j]?.text === 'distinct') j += 1;
  const first = code[j];
  if (first === undefined) return false;
  if (first.text === '*' || isLiteral(first) || first.kind === 'variable' || isCall(code, j)) return true;
  // `select current_user;`: the session's identity, a probe's first question.
  if (SESSION_WORDS.has(first.text) && (code[j + 1] === undefined || code[j + 1]!.kind === 'semicolon'))
    return true;
  if (first.kind === 'word') {
    // A column list with commas, or one column followed by FROM.
    const after = code[j + 1];
    return after?.kind === 'comma' || after?.text === 'from';
  }
  return false;
}

/** `select * from`, `select a, b from`, `select f(x) from` anywhere: prose says 'select the mode from the menu'. */
function selectReadsTable(code: readonly Token[], i: number): boolean {
  if (!selectHasBody(code, i)) return false;
  for (let j = i + 1; j < code.length && j <= i + 12; j += 1) if (code[j]!.text === 'from') return true;
  return false;
}

const SORT_WORDS = new Set(['asc', 'desc']);
const SESSION_WORDS = new Set(['current_user', 'session_user', 'system_user', 'current_database']);
const ARITHMETIC = new Set(['+', '-', '*', '/', '%']);
/** Operators that join the broken string to the reopened one: arithmetic and MySQL's bitwise `'&'`, `'^'`, `'|'`. */
const CONCAT = new Set([...ARITHMETIC, '&', '^', '|']);

/**
 * The index just past an ORDER/GROUP BY column list starting at `from` (`a`, `t.a desc, 2`,
 * `length(a)`), or null when there is no column there.
 */
function columnListEnd(code: readonly Token[], from: number): number | null {
  let j = from;
  for (;;) {
    const column = code[j];
    // A column is named or numbered; a quoted phrase after `group by` is prose quoting SQL.
    if (!isOperand(column) || column!.kind === 'string') return null;
    j = isCall(code, j) ? callEnd(code, j) : j + 1;
    if (SORT_WORDS.has(code[j]?.text ?? '')) j += 1;
    if (code[j]?.kind !== 'comma') return j;
    j += 1;
  }
}

/**
 * The injected text ends the statement at token `at`: a comment follows the last token, the last
 * token is a string the application's own closing quote will close, or a ';' comes next.
 */
function endsStatement(code: readonly Token[], at: number, commentAfterEnd: boolean): boolean {
  const t = code[at];
  if (t === undefined) return commentAfterEnd || code[at - 1]?.open === true;
  return t.kind === 'semicolon';
}

/**
 * `' - 28 - '`, `'+'n9`, `'||'x`: arithmetic or concatenation on the broken string that ends by
 * opening a string the application's own closing quote closes, so the statement stays valid.
 */
function reopensString(code: readonly Token[], i: number): boolean {
  const first = code[i];
  if (first === undefined || !(CONCAT.has(first.text) || first.text === '||')) return false;
  for (let j = i + 1; j < code.length && j <= i + 10; j += 1) {
    const t = code[j]!;
    // The reopened string follows an operator and is a bare fragment (`'n9`, `'`), not a phrase.
    if (j === code.length - 1)
      return (
        t.kind === 'string' &&
        t.open === true &&
        !/\s/.test(t.text) &&
        (CONCAT.has(code[j - 1]!.text) || code[j - 1]!.text === '||')
      );
    if (!(isOperand(t) || CONCAT.has(t.text) || t.text === '||') || t.open === true) return false;
  }
  return false;
}

/** A bare fragment left open for the application's closing quote (`'n9`), not a quoted phrase. */
function adjacentFragment(t: Token): boolean {
  return t.kind === 'string' && t.open === true && t.text !== '' && !/\s/.test(t.text);
}

/** Conditional sorting, the blind probe of ORDER BY: `if(1=1,a,b)`, `iif(...)`, `case when`. */
function conditionalColumn(code: readonly Token[], i: number): boolean {
  const t = code[i];
  if (t === undefined) return false;
  return (
    ((t.text === 'if' || t.text === 'iif') && code[i + 1]?.kind === 'open') ||
    (t.text === 'case' && code[i + 1]?.text === 'when')
  );
}

/**
 * Shapes that only make sense right after a string break or at the start of a numeric value.
 * `evasive`: the text hides its spaces in comments (`1/**\/or/**\/2`) or starts with a negative
 * number (`-1 or 2`), both probes' habits, so a lone truth value needs no comment to count.
 */
function matchAfterBreak(
  code: readonly Token[],
  commentAfterEnd: boolean,
  context: 'string' | 'number',
  evasive = false,
  leading = false,
): string | null {
  let i = 0;
  while (code[i]?.kind === 'close') i += 1;
  const first = code[i];
  if (first === undefined) return commentAfterEnd ? 'break-comment' : null;
  if (first.kind === 'semicolon' && code[i + 1]?.kind === 'statement') return 'break-stacked';
  if (first.kind === 'union') return 'break-union';
  if (context === 'string' && reopensString(code, i)) return 'break-concat';
  // `x' 'y` (and `x'+'y` once a form decoder made the + a space): adjacent strings, which MySQL
  // joins, so the value stays valid SQL with the break in it.
  if (context === 'string' && code.length === i + 1 && adjacentFragment(first)) return 'break-concat';
  if (first.kind === 'logic') {
    if (expressionAfterLogic(code, i + 1)) return 'break-tautology';
    // A value that itself starts with AND/OR ("and the door is open") needs the condition shaped
    // the way a probe writes it (a number compared, a comment, `;`, hidden spaces); after a number
    // or a quote it does not.
    const numberCompared =
      code[skipOpen(code, i + 1)]?.kind === 'number' && code[skipOpen(code, i + 1) + 1]?.kind === 'compare';
    if (
      conditionAfterLogic(code, i + 1) &&
      (!leading || evasive || commentAfterEnd || numberCompared || code.at(-1)?.kind === 'semicolon')
    )
      return 'break-condition';
    const operandIndex = skipOpen(code, i + 1);
    const operand = code[operandIndex];
    // `' or 1--`, `' or true#`, `' or '1`: a lone truth value closed by a comment, a ';' or the
    // application's own closing quote; without those it is prose such as '20 or 30'.
    if (isLiteral(operand) && (evasive || endsStatement(code, operandIndex + 1, commentAfterEnd)))
      return 'break-boolean';
    return null;
  }
  if (
    first.kind === 'keyword' &&
    (first.text === 'order' || first.text === 'group') &&
    code[i + 1]?.text === 'by'
  ) {
    // `' order by 3--` counts columns; `' group by pin having 1=1`, `' group by a.id, 2 desc--`
    // probe them: a column list that the statement then ends (a comment, a ';', the application's
    // own closing quote) or continues as SQL only (HAVING, LIMIT, WITH ROLLUP).
    if (conditionalColumn(code, i + 2) || isAttackCall(code, i + 2)) return 'break-order-by';
    // `order by 3` counts columns; a value that itself starts so ("order by 5 pm") must end there.
    if (code[i + 2]?.kind === 'number') {
      const after = code[i + 3];
      const ends =
        after === undefined ||
        after.kind === 'semicolon' ||
        SORT_WORDS.has(after.text) ||
        after.kind === 'comma';
      if (!leading || ends || commentAfterEnd) return 'break-order-by';
    }
    const end = columnListEnd(code, i + 2);
    if (end === null) return null;
    const after = code[end];
    const ended =
      endsStatement(code, end, commentAfterEnd) ||
      // After a quote, the application's closing quote comes next: `x' group by email` ends there.
      (context === 'string' && after === undefined) ||
      after?.text === 'having' ||
      (after?.text === 'limit' && isOperand(code[end + 1])) ||
      (after?.text === 'with' && code[end + 1]?.text === 'rollup');
    return ended ? 'break-group-by' : null;
  }
  if (
    first.kind === 'keyword' &&
    (first.text === 'having' || first.text === 'limit' || first.text === 'procedure')
  ) {
    // `having 1=1`, `having role='x'`, `limit 1`, `having count(*)>1`; prose says "having trouble".
    const operand = code[i + 1];
    const clause =
      isLiteral(operand) || isCall(code, i + 1) || (isOperand(operand) && code[i + 2]?.kind === 'compare');
    return clause ? 'break-clause' : null;
  }
  if (first.kind === 'compare' && (isOperand(code[i + 1]) || code[i + 1]?.kind === 'open')) {
    // `1'='1` or `x' = (select ...)`: a comparison straight after the break.
    const afterOperand = code[i + 2];
    if (code[i + 1]?.kind === 'open') return 'break-compare';
    if (afterOperand?.kind === 'logic' || afterOperand?.kind === 'semicolon') return 'break-compare';
    // A number compared and nothing else (`0004<02`, Tasmota's cluster<command keys; `5=5`) is
    // data: only after a quote does a lone comparison close the application's string (`1'='1`).
    if (afterOperand === undefined && context === 'string') return 'break-compare';
    return null;
  }
  if (
    context === 'string' &&
    first.kind === 'operator' &&
    ARITHMETIC.has(first.text) &&
    isOperand(code[i + 1])
  ) {
    // `x'+0--`, `7'*1=7 and '`, `a'-0=0;`: arithmetic on the broken string, ending the statement
    // or compared and followed by SQL; a quoted '+5' in text does neither. Only after a quote:
    // a number followed by arithmetic is ordinary text (`20-30 # office`, `2+2=4 and 3+3=6`).
    if (endsStatement(code, i + 2, commentAfterEnd) && code[i + 1]?.open !== true) return 'break-arithmetic';
    if (code[i + 2]?.kind === 'compare' && isOperand(code[i + 3])) {
      if (endsStatement(code, i + 4, commentAfterEnd) || code[i + 4]?.kind === 'logic')
        return 'break-arithmetic';
    }
  }
  if (first.kind === 'operator' && (first.text === '+' || first.text === '||' || first.text === '|')) {
    const j = skipOpen(code, i + 1);
    if (code[j]?.kind === 'statement' || isAttackCall(code, j)) return 'break-concat';
  }
  return null;
}

/** Shapes that are injections wherever they appear in the text. */
function matchAnywhere(
  code: readonly Token[],
  commentAfterEnd: boolean,
): { shape: string; index: number } | null {
  for (let i = 0; i < code.length; i += 1) {
    const t = code[i]!;
    if (t.kind === 'union') {
      let j = i + 1;
      if (code[j]?.text === 'all' || code[j]?.text === 'distinct') j += 1;
      j = skipOpen(code, j);
      if (code[j]?.text === 'select' && (selectHasBody(code, j) || code[j + 1]?.kind === 'word'))
        return { shape: 'union-select', index: i };
    } else if (t.kind === 'semicolon') {
      if (code[i + 1]?.kind === 'statement' && statementHasBody(code, i + 1))
        return { shape: 'stacked-statement', index: i };
    } else if (t.kind === 'logic' && t.text !== 'not') {
      if (i > 0 && expressionAfterLogic(code, i + 1)) return { shape: 'tautology', index: i };
    } else if (t.text === 'select' && selectReadsTable(code, i)) {
      return { shape: 'select-from', index: i };
    } else if (
      t.kind === 'statement' &&
      (i === 0 || code[i - 1]!.kind === 'open') &&
      statementHasBody(code, i)
    ) {
      // A whole statement as the value, or a subquery: `select * from users`, `(select user())`.
      if (t.text !== 'update' && t.text !== 'exec' && t.text !== 'execute' && t.text !== 'grant')
        return { shape: 'statement', index: i };
    } else if (i === 0 && isAttackCall(code, i) && callIsWholeValue(code, commentAfterEnd)) {
      return { shape: `function:${t.text}`, index: i };
    } else if (isAttackCall(code, i)) {
      const before = code[i - 1];
      const prev = before?.kind === 'open' ? code[i - 2] : before;
      // Nested in another call (`like('a',upper(hex(randomblob(5e8))))`): the expression it sits in counts.
      const nested = before?.kind === 'open' && prev !== undefined && isCall(code, i - 2);
      if (
        prev !== undefined &&
        (nested ||
          prev.kind === 'logic' ||
          prev.kind === 'compare' ||
          prev.kind === 'comma' ||
          prev.kind === 'statement' ||
          prev.kind === 'semicolon' ||
          prev.text === 'if' ||
          prev.text === '+' ||
          prev.text === '||')
      ) {
        return { shape: `function:${t.text}`, index: i };
      }
    } else if (
      t.text === 'waitfor' &&
      (code[i + 1]?.text === 'delay' || code[i + 1]?.text === 'time') &&
      code[i + 2]?.kind === 'string'
    ) {
      return { shape: 'waitfor-delay', index: i };
    }
  }
  return null;
}

/** The index just past the parenthesised arguments of the call at `i`. */
function callEnd(code: readonly Token[], i: number): number {
  let depth = 0;
  let j = i + 1;
  do {
    if (code[j]?.kind === 'open') depth += 1;
    else if (code[j]?.kind === 'close') depth -= 1;
    j += 1;
  } while (depth > 0 && j < code.length);
  return j;
}

/**
 * `sleep(20)#`, `pg_sleep(5)`, `sleep(5)='`: the attack call at the start is the whole value, its
 * tail commented away, compared with the application's own quote, or a timing function alone.
 */
function callIsWholeValue(code: readonly Token[], commentAfterEnd: boolean): boolean {
  const end = callEnd(code, 0);
  const compared = code[end]?.kind === 'compare';
  return (
    (end === code.length || compared) && (commentAfterEnd || compared || TIMING_FUNCTIONS.has(code[0]!.text))
  );
}

function splitComments(tokens: readonly Token[]): { code: Token[]; commentAfterEnd: boolean } {
  const code: Token[] = [];
  let commentAfterEnd = false;
  for (const t of tokens) {
    if (t.kind === 'comment') commentAfterEnd = true;
    else {
      code.push(t);
      commentAfterEnd = false;
    }
  }
  return { code, commentAfterEnd };
}

/** A comment glued between two words, standing in for a space (`1/**\/or/**\/2`, `'/*x*\/union`). */
const GLUED_COMMENT = /[\w')]\/\*[^*]{0,20}\*\/[\w('-]/;

function inspectContext(
  text: string,
  offset: number,
  afterBreak: 'string' | 'number' | 'none',
  leading = false,
): SqliMatch | null {
  const { code, commentAfterEnd } = splitComments(tokenize(text));
  if (afterBreak !== 'none') {
    let first = 0;
    let evasive = GLUED_COMMENT.test(text);
    if (afterBreak === 'number') {
      if (code[first]?.text === '-') {
        first += 1;
        evasive = true;
      }
      if (code[first]?.kind === 'number') first += 1;
    }
    const shape = matchAfterBreak(
      first === 0 ? code : code.slice(first),
      commentAfterEnd,
      afterBreak,
      evasive,
      leading,
    );
    if (shape) return { shape, offset };
  }
  const anywhere = matchAnywhere(code, commentAfterEnd);
  if (anywhere) return { shape: anywhere.shape, offset: offset + (code[anywhere.index]?.start ?? 0) };
  return null;
}

const LEADING_CLAUSE = /^\s*(?:and|or|xor|having|(?:order|group)\s+by)\s/;

function isLetter(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90);
}

/** The first `quote` from `from` that is not between two letters (`kid's`), or -1. */
function quoteOutsideWord(text: string, quote: string, from: number): number {
  for (let at = from; at !== -1; at = text.indexOf(quote, at + 1))
    if (!(isLetter(text.charCodeAt(at - 1)) && isLetter(text.charCodeAt(at + 1)))) return at;
  return -1;
}

/** Detects SQL injection in normalised (decoded, lower-cased) text. */
export function detectSqli(text: string): SqliMatch | null {
  // Numeric context: the value is pasted into SQL unquoted (`id=1 or 1=1`).
  // Numeric context: the value is pasted into SQL unquoted, after a number (`1 or 1=1`) or after
  // the application's own number (` or 1=1--`, ` order by 3`, ` having 1=1`: a value that starts
  // with the clause).
  const leading = LEADING_CLAUSE.test(text);
  const numeric = leading || /^\s*(?:-?\d|\))/.test(text);
  const asIs = inspectContext(text, 0, numeric ? 'number' : 'none', leading);
  if (asIs) return asIs;
  for (const quote of ["'", '"']) {
    const at = text.indexOf(quote);
    if (at === -1) continue;
    // The break may come after an apostrophe inside a word of the value itself (`kid's_room' and
    // 1=1--`): then the first quote that is not inside a word is tried as the break as well.
    const breaks = [at];
    const outside = quoteOutsideWord(text, quote, at);
    if (outside !== -1 && outside !== at) breaks.push(outside);
    for (const position of breaks) {
      const found = inspectContext(text.slice(position + 1), position + 1, 'string');
      if (found)
        return { shape: `${quote === "'" ? 'single' : 'double'}-quote:${found.shape}`, offset: position };
    }
  }
  return null;
}
