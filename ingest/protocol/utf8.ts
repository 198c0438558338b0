/**
 * Checks an MQTT UTF-8 string in place, on the bytes as received: decoding first would turn
 * ill-formed sequences into U+FFFD and hide them. Well-formedness follows Unicode Table 3-7
 * (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF.
 */
export type Utf8Fault = 'ill-formed' | 'surrogate' | 'null' | 'control';

function isContinuation(byte: number | undefined): boolean {
  return byte !== undefined && (byte & 0xc0) === 0x80;
}

/** The first fault in bytes[start, end), or undefined if the string is acceptable. */
export function findUtf8Fault(
  bytes: Uint8Array,
  start: number,
  end: number,
  refuseControl: boolean,
): Utf8Fault | undefined {
  let i = start;
  while (i < end) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      // MQTT-1.5.3-2: U+0000 is never allowed.
      if (lead === 0) return 'null';
      if (refuseControl && (lead < 0x20 || lead === 0x7f)) return 'control';
      i += 1;
      continue;
    }
    if (lead < 0xc2 || lead > 0xf4) return 'ill-formed';
    if (lead < 0xe0) {
      // 110xxxxx 10xxxxxx: U+0080..U+07FF
      if (i + 1 >= end || !isContinuation(bytes[i + 1])) return 'ill-formed';
      if (refuseControl && lead === 0xc2 && bytes[i + 1]! <= 0x9f) return 'control';
      i += 2;
      continue;
    }
    if (lead < 0xf0) {
      // 1110xxxx 10xxxxxx 10xxxxxx: U+0800..U+FFFF; E0 needs A0..BF (no overlong), ED A0..BF are surrogates.
      if (i + 2 >= end) return 'ill-formed';
      const second = bytes[i + 1]!;
      if (!isContinuation(second) || !isContinuation(bytes[i + 2])) return 'ill-formed';
      if (lead === 0xe0 && second < 0xa0) return 'ill-formed';
      if (lead === 0xed && second >= 0xa0) return 'surrogate';
      i += 3;
      continue;
    }
    // 11110xxx + 3 continuations: U+10000..U+10FFFF; F0 needs 90..BF, F4 needs 80..8F.
    if (i + 3 >= end) return 'ill-formed';
    const second = bytes[i + 1]!;
    if (!isContinuation(second) || !isContinuation(bytes[i + 2]) || !isContinuation(bytes[i + 3])) {
      return 'ill-formed';
    }
    if (lead === 0xf0 && second < 0x90) return 'ill-formed';
    if (lead === 0xf4 && second > 0x8f) return 'ill-formed';
    i += 4;
  }
  return undefined;
}
