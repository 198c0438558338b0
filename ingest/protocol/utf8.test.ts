import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findUtf8Fault, type Utf8Fault } from './utf8.js';

const cases: Array<[string, string, Utf8Fault | undefined]> = [
  ['ASCII', '612f62', undefined],
  ['2-byte é', 'c3a9', undefined],
  ['3-byte €', 'e282ac', undefined],
  ['4-byte 😀', 'f09f9880', undefined],
  ['U+FEFF (must not be stripped, MQTT-1.5.3-3)', 'efbbbf', undefined],
  ['last scalar U+10FFFF', 'f48fbfbf', undefined],
  ['lone continuation', '80', 'ill-formed'],
  ['overlong 2-byte C1 BF', 'c1bf', 'ill-formed'],
  ['overlong 3-byte E0 80 80', 'e08080', 'ill-formed'],
  ['overlong 4-byte F0 80 80 80', 'f0808080', 'ill-formed'],
  ['above U+10FFFF', 'f4908080', 'ill-formed'],
  ['F5 lead', 'f5808080', 'ill-formed'],
  ['truncated 3-byte', 'e282', 'ill-formed'],
  ['truncated 4-byte', 'f09f98', 'ill-formed'],
  ['bad second byte', 'e228a1', 'ill-formed'],
  ['high surrogate', 'eda080', 'surrogate'],
  ['low surrogate', 'edbfbf', 'surrogate'],
  ['U+0000', '6100', 'null'],
  ['U+001F', '1f', 'control'],
  ['U+007F', '7f', 'control'],
  ['U+009F', 'c29f', 'control'],
];

describe('findUtf8Fault', () => {
  for (const [what, hex, fault] of cases) {
    it(`${what} -> ${fault ?? 'ok'}`, () => {
      const bytes = Buffer.from(hex, 'hex');
      assert.equal(findUtf8Fault(bytes, 0, bytes.length, true), fault);
    });
  }

  it('allows control characters when the policy does', () => {
    const bytes = Buffer.from('611fc285', 'hex');
    assert.equal(findUtf8Fault(bytes, 0, bytes.length, false), undefined);
  });

  it('agrees with the WHATWG fatal decoder on every 2- and 3-byte sequence', () => {
    const decoder = new TextDecoder('utf-8', { fatal: true });
    const bytes = Buffer.alloc(3);
    for (let a = 0x80; a < 0x100; a++) {
      for (let b = 0; b < 0x100; b++) {
        for (const c of [0x00, 0x41, 0x80, 0x9f, 0xa0, 0xbf, 0xc0]) {
          bytes[0] = a;
          bytes[1] = b;
          bytes[2] = c;
          let wellFormed = true;
          try {
            decoder.decode(bytes);
          } catch {
            wellFormed = false;
          }
          const fault = findUtf8Fault(bytes, 0, 3, false);
          const ours = fault === undefined || fault === 'null';
          assert.equal(ours, wellFormed, `bytes ${bytes.toString('hex')}: ${fault}`);
        }
      }
    }
  });
});
