/**
 * A strict reader for the YAML the deployment manifests use (and `kubectl kustomize` prints): block
 * mappings and sequences (including a sequence at its parent key's indent), plain, single- and
 * double-quoted scalars, literal and folded block scalars, one-line flow sequences of scalars, `{}`
 * and `[]`, comments, and documents separated by `---`. Anything else (anchors, aliases, tags,
 * complex keys, multi-line flow or quoted scalars, tabs in indentation, duplicate keys) is refused
 * with the line number, so a manifest cannot mean something this reader did not see.
 * Scalars resolve by YAML 1.2's core schema: null, true/false, integers, floats, else strings, which
 * is how Kubernetes reads them too (an unquoted 1883 in an env value is a number, not a string).
 */
export type YamlValue = null | boolean | number | string | YamlValue[] | { [key: string]: YamlValue };
export type YamlMap = { [key: string]: YamlValue };

export class YamlError extends Error {
  constructor(
    readonly line: number,
    reason: string,
  ) {
    super(`line ${line}: ${reason}`);
  }
}

interface Line {
  readonly no: number;
  readonly indent: number;
  /** The content after the indentation, comment removed, trailing spaces trimmed. */
  readonly text: string;
  /** The raw line (block scalars keep their content verbatim). */
  readonly raw: string;
}

/** Index of a comment's `#` outside quotes (at the start, or after whitespace), or -1. */
function commentStart(text: string): number {
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === '"') {
      if (c === '\\') i++;
      else if (c === '"') quote = undefined;
    } else if (quote === "'") {
      if (c === "'") {
        if (text[i + 1] === "'") i++;
        else quote = undefined;
      }
    } else if (c === '#' && (i === 0 || text[i - 1] === ' ')) return i;
    else if ((c === '"' || c === "'") && (i === 0 || /[\s[,:-]/.test(text[i - 1] ?? ''))) quote = c;
  }
  return -1;
}

function toLine(raw: string, no: number): Line {
  const indentText = /^[ \t]*/.exec(raw)?.[0] ?? '';
  if (indentText.includes('\t') && raw.trim() !== '') throw new YamlError(no, 'tab in indentation');
  const body = raw.slice(indentText.length);
  const cut = commentStart(body);
  const text = (cut >= 0 ? body.slice(0, cut) : body).trimEnd();
  return { no, indent: indentText.length, text, raw };
}

const intPattern = /^[-+]?\d+$/;
const floatPattern = /^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$/;

function resolvePlain(text: string, no: number): YamlValue {
  if (text === '' || text === '~' || text === 'null' || text === 'Null' || text === 'NULL') return null;
  if (/^(true|True|TRUE)$/.test(text)) return true;
  if (/^(false|False|FALSE)$/.test(text)) return false;
  if (intPattern.test(text)) return Number(text);
  if (floatPattern.test(text)) return Number(text);
  if (/^[&*!%@`|>]/.test(text)) throw new YamlError(no, `unsupported construct at "${text}"`);
  if (/^[?] /.test(text)) throw new YamlError(no, 'complex keys are not supported');
  if (/: |:$/.test(text)) throw new YamlError(no, `a plain scalar may not contain ": " ("${text}")`);
  return text;
}

function doubleQuoted(text: string, no: number): string {
  if (!/^"(?:[^"\\]|\\.)*"$/.test(text)) throw new YamlError(no, `unterminated or trailing text after "..."`);
  const body = text
    .slice(1, -1)
    .replace(/\\([0abtnvfre "/\\N_LP]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})/g, (_, e) => {
      const simple: Record<string, string> = {
        '0': '\0',
        a: '\x07',
        b: '\b',
        t: '\t',
        n: '\n',
        v: '\v',
        f: '\f',
        r: '\r',
        e: '\x1b',
        ' ': ' ',
        '"': '"',
        '/': '/',
        '\\': '\\',
        N: '\u0085',
        _: '\u00a0',
        L: '\u2028',
        P: '\u2029',
      };
      const s = e as string;
      return simple[s] ?? String.fromCharCode(Number.parseInt(s.slice(1), 16));
    });
  if (/\\/.test(body.replace(/\\\\/g, '')))
    throw new YamlError(no, 'unknown escape in a double-quoted scalar');
  return body;
}

function singleQuoted(text: string, no: number): string {
  if (!/^'(?:[^']|'')*'$/.test(text)) throw new YamlError(no, `unterminated or trailing text after '...'`);
  return text.slice(1, -1).replaceAll("''", "'");
}

/** Splits a one-line flow sequence body on commas outside quotes. */
function splitFlow(body: string): string[] {
  const items: string[] = [];
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ',') {
      items.push(body.slice(start, i).trim());
      start = i + 1;
    }
  }
  // A trailing comma is allowed (`[a, b,]`), as YAML and the formatter's wrapped output have it.
  const last = body.slice(start).trim();
  if (last !== '') items.push(last);
  return items;
}

function inlineValue(text: string, no: number): YamlValue {
  if (text.startsWith('"')) return doubleQuoted(text, no);
  if (text.startsWith("'")) return singleQuoted(text, no);
  if (text === '{}') return {};
  if (text.startsWith('{')) throw new YamlError(no, 'flow mappings other than {} are not supported');
  if (text.startsWith('[')) {
    if (!text.endsWith(']')) throw new YamlError(no, 'a flow sequence must close on its line');
    return splitFlow(text.slice(1, -1)).map((item) => {
      if (item === '') throw new YamlError(no, 'empty item in a flow sequence');
      if (/^[[{]/.test(item)) throw new YamlError(no, 'nested flow collections are not supported');
      return inlineValue(item, no);
    });
  }
  return resolvePlain(text, no);
}

/** `key: rest` -> [key, rest], or undefined when the text is not a mapping entry. */
function splitKey(text: string, no: number): [string, string] | undefined {
  if (text.startsWith('"') || text.startsWith("'")) {
    const close = text.startsWith('"') ? /^"(?:[^"\\]|\\.)*"/.exec(text) : /^'(?:[^']|'')*'/.exec(text);
    if (!close) return undefined;
    const after = text.slice(close[0].length);
    if (after !== ':' && !after.startsWith(': ')) return undefined;
    const key = text.startsWith('"') ? doubleQuoted(close[0], no) : singleQuoted(close[0], no);
    return [key, after.slice(1).trim()];
  }
  const match = /^([^\s#'"[\]{},][^#]*?)\s*:(?: +(.*))?$/.exec(text);
  if (!match || match[1]!.includes(': ')) return undefined;
  return [match[1]!, (match[2] ?? '').trim()];
}

class Reader {
  #i = 0;
  constructor(private readonly lines: Line[]) {}

  #skipBlank(): void {
    while (this.#i < this.lines.length && this.lines[this.#i]!.text === '') this.#i++;
  }

  #peek(): Line | undefined {
    this.#skipBlank();
    return this.lines[this.#i];
  }

  document(): YamlValue {
    const first = this.#peek();
    if (!first) return null;
    const value = this.#node(first.indent);
    const rest = this.#peek();
    if (rest) throw new YamlError(rest.no, `unexpected content at indent ${rest.indent}`);
    return value;
  }

  /** Bracket depth after `text`, outside quotes. */
  static #depth(text: string, start: number): number {
    let depth = start;
    let quote: string | undefined;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (quote) {
        if (c === '\\' && quote === '"') i++;
        else if (c === quote) quote = undefined;
      } else if (c === '"' || c === "'") quote = c;
      else if (c === '[') depth++;
      else if (c === ']') depth--;
    }
    return depth;
  }

  /** A flow sequence that opens on `text` and may close lines later (one item or more per line). */
  #flow(text: string, no: number): YamlValue {
    let joined = text;
    let depth = Reader.#depth(text, 0);
    while (depth > 0) {
      const next = this.lines[this.#i];
      if (!next) throw new YamlError(no, 'unterminated flow sequence');
      this.#i++;
      if (next.text === '') continue;
      joined += ` ${next.text}`;
      depth = Reader.#depth(next.text, depth);
    }
    return inlineValue(joined, no);
  }

  #node(indent: number): YamlValue {
    const line = this.#peek();
    if (!line || line.indent < indent) return null;
    if (line.text.startsWith('[')) {
      this.#i++;
      return this.#flow(line.text, line.no);
    }
    if (line.text === '-' || line.text.startsWith('- ')) return this.#sequence(line.indent);
    if (splitKey(line.text, line.no)) return this.#mapping(line.indent);
    this.#i++;
    const next = this.#peek();
    if (next && next.indent > line.indent)
      throw new YamlError(next.no, 'multi-line plain scalars are not supported');
    return inlineValue(line.text, line.no);
  }

  /** Replaces the current line by its content after `- `, as if it were indented there. */
  #shift(line: Line, by: number): void {
    this.lines[this.#i] = { no: line.no, indent: line.indent + by, text: line.text.slice(by), raw: line.raw };
  }

  #sequence(indent: number): YamlValue[] {
    const items: YamlValue[] = [];
    for (let line = this.#peek(); line && line.indent === indent; line = this.#peek()) {
      if (!(line.text === '-' || line.text.startsWith('- '))) break;
      if (line.text === '-') {
        this.#i++;
        const next = this.#peek();
        items.push(next && next.indent > indent ? this.#node(indent + 1) : null);
        continue;
      }
      const offset = 2 + (/^- +/.exec(line.text)![0].length - 2);
      const rest = line.text.slice(offset);
      if (rest.startsWith('- ') || rest === '-' || splitKey(rest, line.no)) {
        this.#shift(line, offset);
        items.push(this.#node(indent + offset));
      } else if (/^[|>]/.test(rest)) {
        this.#i++;
        items.push(this.#blockScalar(rest, indent, line.no));
      } else {
        this.#i++;
        items.push(inlineValue(rest, line.no));
      }
    }
    return items;
  }

  #mapping(indent: number): YamlMap {
    const map: YamlMap = {};
    for (let line = this.#peek(); line && line.indent === indent; line = this.#peek()) {
      if (line.text.startsWith('- ') || line.text === '-') break;
      const entry = splitKey(line.text, line.no);
      if (!entry) throw new YamlError(line.no, `expected "key: value", found "${line.text}"`);
      const [key, rest] = entry;
      if (Object.hasOwn(map, key)) throw new YamlError(line.no, `duplicate key "${key}"`);
      if (key === '<<') throw new YamlError(line.no, 'merge keys are not supported');
      this.#i++;
      if (rest === '') {
        const next = this.#peek();
        if (next && next.indent > indent) map[key] = this.#node(next.indent);
        else if (next && next.indent === indent && (next.text.startsWith('- ') || next.text === '-'))
          map[key] = this.#sequence(indent);
        else map[key] = null;
      } else if (/^[|>]/.test(rest)) {
        map[key] = this.#blockScalar(rest, indent, line.no);
      } else if (rest.startsWith('[')) {
        map[key] = this.#flow(rest, line.no);
      } else {
        map[key] = inlineValue(rest, line.no);
      }
    }
    const after = this.#peek();
    if (after && after.indent > indent) throw new YamlError(after.no, 'unexpected indentation');
    return map;
  }

  /** `|` / `>` with optional chomping (+ -) and indentation digit; content lines are taken raw. */
  #blockScalar(header: string, parentIndent: number, no: number): string {
    const match = /^([|>])([1-9])?([+-])?$|^([|>])([+-])([1-9])$/.exec(header);
    if (!match) throw new YamlError(no, `unsupported block scalar header "${header}"`);
    const folded = (match[1] ?? match[4]) === '>';
    const chomp = match[3] ?? match[5] ?? '';
    const explicit = match[2] ?? match[6];
    const raw: string[] = [];
    let contentIndent = explicit ? parentIndent + Number(explicit) : -1;
    while (this.#i < this.lines.length) {
      const line = this.lines[this.#i]!;
      const blank = line.raw.trim() === '';
      const lead = /^ */.exec(line.raw)![0].length;
      if (!blank) {
        if (contentIndent < 0) {
          if (lead <= parentIndent) break;
          contentIndent = lead;
        }
        if (lead < contentIndent) break;
      }
      raw.push(blank ? '' : line.raw.slice(contentIndent));
      this.#i++;
    }
    let end = raw.length;
    while (end > 0 && raw[end - 1] === '') end--;
    const body = raw.slice(0, end);
    const trailing = raw.slice(end);
    let text = folded
      ? body.reduce((acc, l, k) => {
          if (k === 0) return l;
          const prev = body[k - 1]!;
          const joinWith = l === '' || prev === '' || /^\s/.test(l) || /^\s/.test(prev) ? '\n' : ' ';
          return acc + joinWith + l;
        }, '')
      : body.join('\n');
    if (body.length === 0) return chomp === '+' ? trailing.map(() => '\n').join('') : '';
    if (chomp === '-') return text;
    text += '\n';
    if (chomp === '+') text += trailing.map(() => '\n').join('');
    return text;
  }
}

/** Every document of a YAML stream; empty documents are left out. */
export function parseYamlDocuments(source: string): YamlValue[] {
  const docs: YamlValue[] = [];
  let current: Line[] = [];
  const flush = () => {
    const value = new Reader(current).document();
    if (value !== null) docs.push(value);
    current = [];
  };
  source.split(/\r?\n/).forEach((raw, index) => {
    const no = index + 1;
    if (/^---(\s.*)?$/.test(raw)) {
      if (raw.slice(3).trim() !== '' && !raw.slice(3).trim().startsWith('#'))
        throw new YamlError(no, 'content on a --- line is not supported');
      flush();
      return;
    }
    if (/^\.\.\.\s*$/.test(raw) || /^%/.test(raw))
      throw new YamlError(no, 'directives and ... are not supported');
    current.push(toLine(raw, no));
  });
  flush();
  return docs;
}

export function isMap(value: YamlValue | undefined): value is YamlMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
