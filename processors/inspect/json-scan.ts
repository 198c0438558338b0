/**
 * One pass over a JSON document's UTF-8 bytes that checks it is JSON (the grammar JSON.parse accepts) and collects
 * its keys and string values with their paths, without building the value. Inspection needs only
 * the strings: JSON.parse of a 256 KiB object of 12,000 keys builds a dictionary-mode object and
 * costs about 10 ms here, twice the whole inspection budget, where this scan is linear in the bytes
 * and allocates only the strings it returns (not even the whole text: decoding 256 KiB to a string
 * alone costs 1 ms). UTF-8 validity is the caller's (`buffer.isUtf8`). Collection stops at `maxStrings` or below
 * `maxDepth` (the scan still reads to the end to say whether the text is JSON); why it stopped is
 * returned as `limit`. Hand-written: the streaming JSON libraries on npm build values or emit
 * events per token, which costs more than JSON.parse, and none stops collecting at a cap.
 */

export interface JsonString {
  readonly text: string;
  readonly key: boolean;
  /** Path of the object or array that holds it; '' for a string that is the whole document. */
  readonly parent: string;
  /** In an object: the member name (a key's own text, or the name of the member whose value it is). */
  readonly member?: string;
  /** In an array: the index. */
  readonly index?: number;
}

/** `$.a[2].b`: built only for strings that are reported, most never are. */
export function jsonStringPath(found: JsonString): string {
  if (found.parent === '') return '$';
  if (found.index !== undefined) return `${found.parent}[${found.index}]`;
  return memberPath(found.parent, found.member ?? '');
}

export interface JsonScan {
  /** The text is one JSON value (surrounding whitespace allowed), as JSON.parse would accept. */
  readonly valid: boolean;
  readonly strings: JsonString[];
  /** Why collection stopped before the end, or null. */
  readonly limit: string | null;
}

export interface JsonScanLimits {
  readonly maxDepth: number;
  /** Keys and string values collected at most; nodes of any kind count towards it. */
  readonly maxNodes: number;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function memberPath(parent: string, key: string): string {
  return IDENTIFIER.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

interface Frame {
  readonly array: boolean;
  readonly path: string;
  /** Next array index, or -1 in an object. */
  index: number;
  /** The member name whose value comes next, in an object. */
  member: string;
}

/** The kind of a container opened after collection stopped (kept one byte each). */
const ARRAY = 1;
const OBJECT = 2;

enum Expect {
  Value,
  /** After a value: ',' or the container's close, or the end of the text at depth 0. */
  AfterValue,
  /** After '{' or ',' in an object: a key (or '}' right after '{'). */
  Key,
  Colon,
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function byteAt(text: Buffer, i: number): number {
  return i < text.length ? text[i]! : -1;
}

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

function hasWord(text: Buffer, i: number, word: Buffer): boolean {
  if (i + word.length > text.length) return false;
  for (let k = 0; k < word.length; k += 1) if (text[i + k] !== word[k]) return false;
  return true;
}

/** Set by stringEnd: the string it just read has a backslash escape. */
let lastEscaped = false;

/** The string a JSON string token from the quote at `start` to `end` stands for. */
function stringValue(text: Buffer, start: number, end: number, escaped: boolean): string {
  return escaped
    ? (JSON.parse(text.toString('utf8', start, end)) as string)
    : text.toString('utf8', start + 1, end - 1);
}

/**
 * The index after a JSON string starting at the quote at `i`, or -1 when it is not one; whether it
 * has an escape is left in `lastEscaped` (a number back, not an object, for the hot loop).
 */
function stringEnd(text: Buffer, i: number): number {
  lastEscaped = false;
  let j = i + 1;
  const n = text.length;
  while (j < n) {
    const c = text[j]!;
    if (c === 0x22) return j + 1;
    if (c < 0x20) return -1;
    if (c === 0x5c) {
      lastEscaped = true;
      const e = byteAt(text, j + 1);
      if (e === 0x75) {
        for (let k = 2; k < 6; k += 1) if (!isHex(byteAt(text, j + k))) return -1;
        j += 6;
      } else if (
        e === 0x22 ||
        e === 0x5c ||
        e === 0x2f ||
        e === 0x62 ||
        e === 0x66 ||
        e === 0x6e ||
        e === 0x72 ||
        e === 0x74
      )
        j += 2;
      else return -1;
    } else j += 1;
  }
  return -1;
}

/** The index after a JSON number starting at `i`, or -1. */
function numberEnd(text: Buffer, i: number): number {
  let j = i;
  if (byteAt(text, j) === 0x2d) j += 1;
  if (byteAt(text, j) === 0x30) j += 1;
  else if (isDigit(byteAt(text, j))) while (isDigit(byteAt(text, j))) j += 1;
  else return -1;
  if (byteAt(text, j) === 0x2e) {
    j += 1;
    if (!isDigit(byteAt(text, j))) return -1;
    while (isDigit(byteAt(text, j))) j += 1;
  }
  const e = byteAt(text, j);
  if (e === 0x65 || e === 0x45) {
    j += 1;
    const sign = byteAt(text, j);
    if (sign === 0x2b || sign === 0x2d) j += 1;
    if (!isDigit(byteAt(text, j))) return -1;
    while (isDigit(byteAt(text, j))) j += 1;
  }
  return j;
}

export function scanJson(text: Buffer, limits: JsonScanLimits): JsonScan {
  const strings: JsonString[] = [];
  const stack: Frame[] = [];
  // Collection is on until a cap is reached (limit set); the grammar is checked to the end either way.
  let limit: string | null = null;
  let nodes = 0;
  /** Containers opened after collection stopped: their kinds, innermost last. */
  let kinds: Uint8Array | null = null;
  let uncollected = 0;
  let expect: Expect = Expect.Value;
  let i = 0;
  const n = text.length;
  // Written as one loop with no closures: every byte of a 256 KiB payload passes through it.
  while (i < n) {
    const c = text[i]!;
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      i += 1;
      continue;
    }
    let valueEnded = false;
    if (expect === Expect.Value) {
      if (c === 0x7b || c === 0x5b) {
        nodes += 1;
        if (limit === null && nodes > limits.maxNodes) limit = `more than ${limits.maxNodes} JSON nodes`;
        if (limit === null && stack.length >= limits.maxDepth)
          limit = `JSON nested deeper than ${limits.maxDepth}`;
        if (limit === null)
          stack.push({ array: c === 0x5b, path: containerPath(stack), index: 0, member: '' });
        else {
          // Past a cap only each open container's kind is kept, a byte each: a flood of nested
          // brackets (256 KiB of `[`) allocates nothing per level, and popping never shrinks an array.
          kinds ??= new Uint8Array(n);
          kinds[uncollected] = c === 0x5b ? ARRAY : OBJECT;
          uncollected += 1;
        }
        i += 1;
        expect = c === 0x7b ? Expect.Key : Expect.Value;
        // An empty container closes at once.
        let j = i;
        while (j < n && isSpace(text[j]!)) j += 1;
        if (byteAt(text, j) === (c === 0x7b ? 0x7d : 0x5d)) {
          if (uncollected > 0) uncollected -= 1;
          else stack.pop();
          i = j + 1;
          valueEnded = true;
        } else continue;
      } else if (c === 0x22) {
        const end = stringEnd(text, i);
        if (end === -1) return { valid: false, strings, limit: null };
        nodes += 1;
        if (limit === null && nodes > limits.maxNodes) limit = `more than ${limits.maxNodes} JSON nodes`;
        if (limit === null) {
          const top = stack[stack.length - 1];
          const value = stringValue(text, i, end, lastEscaped);
          if (top === undefined) strings.push({ text: value, key: false, parent: '' });
          else if (top.array) strings.push({ text: value, key: false, parent: top.path, index: top.index });
          else strings.push({ text: value, key: false, parent: top.path, member: top.member });
        }
        i = end;
        valueEnded = true;
      } else {
        let end = -1;
        if (c === 0x2d || isDigit(c)) end = numberEnd(text, i);
        else if (hasWord(text, i, TRUE)) end = i + 4;
        else if (hasWord(text, i, FALSE)) end = i + 5;
        else if (hasWord(text, i, NULL)) end = i + 4;
        if (end === -1) return { valid: false, strings, limit: null };
        nodes += 1;
        if (limit === null && nodes > limits.maxNodes) limit = `more than ${limits.maxNodes} JSON nodes`;
        i = end;
        valueEnded = true;
      }
    } else if (expect === Expect.Key) {
      if (c !== 0x22) return { valid: false, strings, limit: null };
      const end = stringEnd(text, i);
      if (end === -1) return { valid: false, strings, limit: null };
      if (limit === null) {
        // No container opens after a cap, so while collecting the innermost one is a frame.
        const top = stack[stack.length - 1]!;
        // The member name is needed for paths only while collecting.
        top.member = stringValue(text, i, end, lastEscaped);
        strings.push({ text: top.member, key: true, parent: top.path, member: top.member });
      }
      i = end;
      expect = Expect.Colon;
      continue;
    } else if (expect === Expect.Colon) {
      if (c !== 0x3a) return { valid: false, strings, limit: null };
      i += 1;
      expect = Expect.Value;
      continue;
    } else {
      const array = uncollected > 0 ? kinds![uncollected - 1] === ARRAY : stack[stack.length - 1]?.array;
      if (array === undefined) return { valid: false, strings, limit: null };
      if (c === 0x2c) {
        i += 1;
        expect = array ? Expect.Value : Expect.Key;
        continue;
      }
      if (c !== (array ? 0x5d : 0x7d)) return { valid: false, strings, limit: null };
      if (uncollected > 0) uncollected -= 1;
      else stack.pop();
      i += 1;
      valueEnded = true;
    }
    if (valueEnded) {
      if (limit === null) {
        const top = stack[stack.length - 1];
        if (top?.array) top.index += 1;
      }
      expect = Expect.AfterValue;
    }
  }
  if (expect !== Expect.AfterValue || stack.length > 0 || uncollected > 0)
    return { valid: false, strings, limit: null };
  return { valid: true, strings, limit };
}

/** The path of the container about to be opened, from the one that holds it. */
function containerPath(stack: readonly Frame[]): string {
  const top = stack[stack.length - 1];
  if (top === undefined) return '$';
  if (top.array) return `${top.path}[${top.index}]`;
  return memberPath(top.path, top.member);
}
