/**
 * Normalisation before matching (the CRS transform idea): attackers hide payloads behind encodings
 * the receiving application will undo, so the rules see what the application would see. Each
 * decoder is one linear pass; `normalise` repeats them until nothing changes, at most `maxPasses`
 * times, and never lets the text grow beyond `maxChars`.
 */

export interface DecodeLimits {
  /** Longest text a field is decoded to and matched on; the rest is not inspected (and reported). */
  readonly maxChars: number;
  /** Rounds of URL + HTML entity + escape decoding; 3 covers double and triple encoding. */
  readonly maxPasses: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxChars: 8192, maxPasses: 3 };

export interface NormalisedText {
  /** Decoded, NFKC-folded, lower-cased text with NUL bytes removed. */
  readonly text: string;
  /** Decoding passes that changed something; 2 means the input was double encoded. */
  readonly passes: number;
  readonly truncated: boolean;
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  if (code >= 65 && code <= 70) return code - 55;
  return -1;
}

/** '.', '/' and '\\': what a lenient decoder's reading of C0/C1 with a non-continuation byte may give. */
const PATH_CHARS = new Set([0x2e, 0x2f, 0x5c]);

/**
 * UTF-8 bytes to text, accepting overlong forms (`C0 AF` is '/'; `C1 1C` is '\\' as IIS read it)
 * because lenient decoders in the wild accept them and path-traversal payloads rely on that;
 * other invalid bytes map to the Latin-1 character of the same value so nothing is silently dropped.
 */
function decodeLenientUtf8(bytes: number[]): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1] ?? -1;
    const b2 = bytes[i + 2] ?? -1;
    const isCont = (b: number) => b >= 0x80 && b <= 0xbf;
    if (b0 < 0x80) {
      out += String.fromCharCode(b0);
      i += 1;
    } else if (b0 >= 0xc0 && b0 <= 0xdf && isCont(b1)) {
      out += String.fromCharCode(((b0 & 0x1f) << 6) | (b1 & 0x3f));
      i += 2;
    } else if ((b0 === 0xc0 || b0 === 0xc1) && PATH_CHARS.has(((b0 & 0x1f) << 6) | (b1 & 0x3f))) {
      // C0 and C1 only ever start overlong forms; IIS-era decoders took the low six bits of the
      // next byte whatever its high bits (`C1 1C` is '\', `C0 2E` is '.'). Read so only where
      // that makes a path character, the one use traversal payloads make of it.
      out += String.fromCharCode(((b0 & 0x1f) << 6) | (b1 & 0x3f));
      i += 2;
    } else if (b0 >= 0xe0 && b0 <= 0xef && isCont(b1) && isCont(b2)) {
      out += String.fromCharCode(((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f));
      i += 3;
    } else if (b0 >= 0xf0 && b0 <= 0xf4 && isCont(b1) && isCont(b2) && isCont(bytes[i + 3] ?? -1)) {
      const cp = ((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (bytes[i + 3]! & 0x3f);
      out += cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd';
      i += 4;
    } else {
      out += String.fromCharCode(b0);
      i += 1;
    }
  }
  return out;
}

/** %XX (as UTF-8 bytes), %uXXXX (IIS style) and '+' as space (form encoding). */
export function urlDecode(text: string): string {
  if (!text.includes('%') && !text.includes('+')) return text;
  let out = '';
  let bytes: number[] = [];
  const flush = () => {
    if (bytes.length > 0) {
      out += decodeLenientUtf8(bytes);
      bytes = [];
    }
  };
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 37 /* % */) {
      const h1 = hexValue(text.charCodeAt(i + 1));
      const h2 = hexValue(text.charCodeAt(i + 2));
      if (h1 >= 0 && h2 >= 0) {
        bytes.push(h1 * 16 + h2);
        i += 3;
        continue;
      }
      const u = text.charCodeAt(i + 1);
      if (u === 117 || u === 85 /* u U */) {
        const digits = [2, 3, 4, 5].map((k) => hexValue(text.charCodeAt(i + k)));
        if (digits.every((d) => d >= 0)) {
          flush();
          out += String.fromCharCode(digits.reduce((acc, d) => acc * 16 + d, 0));
          i += 6;
          continue;
        }
      }
    }
    flush();
    out += c === 43 /* + */ ? ' ' : text[i];
    i += 1;
  }
  flush();
  return out;
}

const NAMED_ENTITIES: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
  sol: '/',
  bsol: '\\',
  colon: ':',
  semi: ';',
  comma: ',',
  period: '.',
  lpar: '(',
  rpar: ')',
  lsqb: '[',
  rsqb: ']',
  lcub: '{',
  rcub: '}',
  equals: '=',
  excl: '!',
  num: '#',
  percnt: '%',
  dollar: '$',
  grave: '`',
  verbar: '|',
  vert: '|',
  tab: '\t',
  newline: '\n',
  nbsp: ' ',
};

// Browsers accept numeric references without the ';' and with leading zeros, so the decoder does too.
const entityPattern = /&(?:#[xX]([0-9a-fA-F]{1,8});?|#([0-9]{1,10});?|([a-zA-Z]{2,8});)/g;

export function htmlEntityDecode(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(
    entityPattern,
    (whole, hex: string | undefined, dec: string | undefined, name: string | undefined) => {
      if (hex !== undefined || dec !== undefined) {
        const cp = hex !== undefined ? Number.parseInt(hex, 16) : Number.parseInt(dec!, 10);
        return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : '';
      }
      return NAMED_ENTITIES[name!.toLowerCase()] ?? whole;
    },
  );
}

const escapePattern = /\\(?:u\{([0-9a-fA-F]{1,6})\}|u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2}))/g;

/** JavaScript / JSON style escapes left in text (`\u003c`, `\u{3c}`, `\x3c`), e.g. a double-escaped JSON string. */
export function escapeSequenceDecode(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(
    escapePattern,
    (_whole, braced: string | undefined, four: string | undefined, two: string | undefined) => {
      const cp = Number.parseInt(braced ?? four ?? two!, 16);
      return cp <= 0x10ffff ? String.fromCodePoint(cp) : '';
    },
  );
}

const utf7Run = /\+([A-Za-z0-9/+]{2,64})-?/g;

/**
 * UTF-7's `+ADw-script+AD4-` (`<script>`): a run of modified base64 of UTF-16 after `+`. Old
 * browsers sniffed UTF-7 and some mail and XML stacks still decode it. Only runs that decode to
 * printable ASCII are replaced, so a `+` in ordinary text (`+5`, `a+b`) stays as it is.
 */
export function utf7Decode(text: string): string {
  if (!text.includes('+A')) return text;
  return text.replace(utf7Run, (whole, run: string) => {
    const bytes = Buffer.from(run, 'base64');
    let out = '';
    for (let i = 0; i + 1 < bytes.length; i += 2) {
      const code = (bytes[i]! << 8) | bytes[i + 1]!;
      if (code < 0x20 || code > 0x7e) return whole;
      out += String.fromCharCode(code);
    }
    return out === '' ? whole : out;
  });
}

function decodeOnce(text: string): string {
  return escapeSequenceDecode(htmlEntityDecode(urlDecode(utf7Decode(text))));
}

/** Printable ASCII without `%`, `+`, `&` or a backslash: nothing to decode, nothing NFKC changes. */
const NEEDS_DECODING = /[^\t\n\r\x20-\x24\x27-\x2a\x2c-\x5b\x5d-\x7e]/;

export function normalise(input: string, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): NormalisedText {
  let truncated = input.length > limits.maxChars;
  let text = truncated ? input.slice(0, limits.maxChars) : input;
  // Most strings (names, states, numbers as text) are plain ASCII: lower-casing is all they need.
  if (!NEEDS_DECODING.test(text)) return { text: text.toLowerCase(), passes: 0, truncated };
  let passes = 0;
  while (passes < limits.maxPasses) {
    const decoded = decodeOnce(text);
    if (decoded === text) break;
    passes += 1;
    text = decoded;
    if (text.length > limits.maxChars) {
      text = text.slice(0, limits.maxChars);
      truncated = true;
    }
  }
  // NFKC folds full-width and compatibility forms ('＜' to '<'); NUL bytes are dropped as C string APIs would.
  text = text
    .normalize('NFKC')
    .replaceAll('\u0000', '')
    // Slashes NFKC leaves alone and that old IIS and some path APIs read as separators
    // (%u2215 division slash, %u2044 fraction slash, %u2216 set minus for a backslash).
    .replace(/[\u2215\u2044\u29f8]/g, '/')
    .replace(/[\u2216\u29f5\u29f9]/g, '\\')
    // Typographic quotes that Windows' best-fit code pages and some databases turn into ' and ".
    .replace(/[\u2018\u2019\u201a\u201b\u2032\u02bc]/g, "'")
    .replace(/[\u201c\u201d\u201e\u2033]/g, '"')
    .toLowerCase();
  // A few compatibility characters expand to many under NFKC, so the cap is applied again.
  if (text.length > limits.maxChars) {
    text = text.slice(0, limits.maxChars);
    truncated = true;
  }
  return { text, passes, truncated };
}
