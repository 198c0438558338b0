import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type ProxyHeaderResult,
  parseCidrList,
  parseProxyHeader,
  TrustedProxies,
  v2MaxPayload,
} from './proxy-protocol.js';

const signature = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A v2 header: signature, version 2 + command, family/transport, length, then the given block. */
function v2(command: number, familyTransport: number, block: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0x20 | command;
  head[1] = familyTransport;
  head.writeUInt16BE(block.length, 2);
  return Buffer.concat([signature, head, block]);
}

function tcp4Block(
  src: number[],
  dst: number[],
  sport: number,
  dport: number,
  tlv = Buffer.alloc(0),
): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sport, 0);
  ports.writeUInt16BE(dport, 2);
  return Buffer.concat([Buffer.from(src), Buffer.from(dst), ports, tlv]);
}

function tcp6Block(src: string, dst: string, sport: number, dport: number): Buffer {
  const address = (hex: string) => Buffer.from(hex, 'hex');
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sport, 0);
  ports.writeUInt16BE(dport, 2);
  return Buffer.concat([address(src), address(dst), ports]);
}

const mqttConnect = Buffer.from('101000044d5154540402003c0004646576', 'hex');

describe('PROXY protocol header reader', () => {
  // [name, bytes, mode, expected source, expected header length]
  const reads: [string, Buffer, 'v1' | 'v2' | 'any', { ip: string; port: number } | undefined, number][] = [
    [
      'v1 TCP4 (§2.1)',
      Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.5 51234 1883\r\n'),
      'v1',
      { ip: '203.0.113.7', port: 51234 },
      44,
    ],
    [
      'v1 TCP6',
      Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 40000 8883\r\n'),
      'any',
      { ip: '2001:db8::7', port: 40000 },
      47,
    ],
    ['v1 UNKNOWN keeps the socket address (§2.1)', Buffer.from('PROXY UNKNOWN\r\n'), 'v1', undefined, 15],
    [
      'v1 UNKNOWN with ignored addresses',
      Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n'),
      'any',
      undefined,
      59,
    ],
    [
      'v2 PROXY TCP4 (§2.2, family 0x11)',
      v2(1, 0x11, tcp4Block([198, 51, 100, 9], [10, 0, 0, 5], 61000, 1883)),
      'v2',
      { ip: '198.51.100.9', port: 61000 },
      28,
    ],
    [
      'v2 PROXY TCP4 with TLVs after the addresses (AWS VPC endpoint id)',
      v2(
        1,
        0x11,
        tcp4Block([198, 51, 100, 9], [10, 0, 0, 5], 1, 1883, Buffer.from('ea000501766570652d', 'hex')),
      ),
      'any',
      { ip: '198.51.100.9', port: 1 },
      37,
    ],
    [
      'v2 PROXY TCP6 (family 0x21), canonical text',
      v2(
        1,
        0x21,
        tcp6Block('20010db8000000000000000000000007', '20010db8000000000000000000000001', 443, 8883),
      ),
      'v2',
      { ip: '2001:db8::7', port: 443 },
      52,
    ],
    ['v2 LOCAL (a health check of the balancer)', v2(0, 0x00, Buffer.alloc(0)), 'v2', undefined, 16],
    ['v2 PROXY with UNSPEC family', v2(1, 0x00, Buffer.alloc(0)), 'any', undefined, 16],
    ['v2 PROXY over AF_UNIX', v2(1, 0x31, Buffer.alloc(216)), 'v2', undefined, 232],
  ];
  for (const [name, bytes, mode, source, length] of reads) {
    it(`reads ${name}`, () => {
      const result = parseProxyHeader(Buffer.concat([bytes, mqttConnect]), mode);
      assert.deepEqual(result, { status: 'complete', version: bytes[0] === 0x50 ? 1 : 2, length, source });
    });
    it(`reads ${name} one byte at a time: incomplete until the last byte`, () => {
      for (let n = 1; n < bytes.length; n++)
        assert.deepEqual(
          parseProxyHeader(bytes.subarray(0, n), mode),
          { status: 'incomplete' },
          `${n} bytes`,
        );
      assert.equal(parseProxyHeader(bytes, mode).status, 'complete');
    });
  }

  // [name, bytes, mode, refusal code]
  const refusals: [string, Buffer, 'v1' | 'v2' | 'any', string][] = [
    ['MQTT without a header', mqttConnect, 'any', 'missing'],
    ['a TLS ClientHello without a header', Buffer.from('160301020001', 'hex'), 'v2', 'missing'],
    ['a v1 header on a v2 listener', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'v2', 'version'],
    ['a v2 header on a v1 listener', v2(0, 0, Buffer.alloc(0)), 'v1', 'version'],
    ['v1 without CRLF within 107 bytes', Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), 'v1', 'oversized'],
    [
      'v1 protocol other than TCP4/TCP6/UNKNOWN',
      Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'),
      'v1',
      'malformed',
    ],
    ['v1 TCP4 with an IPv6 address', Buffer.from('PROXY TCP4 ::1 5.6.7.8 1 2\r\n'), 'v1', 'malformed'],
    ['v1 TCP6 with an IPv4 address', Buffer.from('PROXY TCP6 1.2.3.4 ::1 1 2\r\n'), 'v1', 'malformed'],
    ['v1 port above 65535', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), 'v1', 'malformed'],
    ['v1 port with a leading zero', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 0080 2\r\n'), 'v1', 'malformed'],
    ['v1 double space', Buffer.from('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'), 'v1', 'malformed'],
    ['v1 missing a field', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), 'v1', 'malformed'],
    ['v2 version nibble 1', Buffer.concat([signature, Buffer.from([0x11, 0x11, 0, 0])]), 'v2', 'malformed'],
    ['v2 command 2', Buffer.concat([signature, Buffer.from([0x22, 0x11, 0, 0])]), 'v2', 'malformed'],
    ['v2 family 4', v2(1, 0x41, Buffer.alloc(12)), 'v2', 'malformed'],
    ['v2 UDP over IPv4', v2(1, 0x12, Buffer.alloc(12)), 'v2', 'malformed'],
    ['v2 TCP4 with a short address block', v2(1, 0x11, Buffer.alloc(8)), 'v2', 'malformed'],
    ['v2 TCP6 with a short address block', v2(1, 0x21, Buffer.alloc(12)), 'v2', 'malformed'],
    [
      `v2 length above ${v2MaxPayload} bytes, refused before it is buffered`,
      Buffer.concat([signature, Buffer.from([0x21, 0x11, 0xff, 0xff])]),
      'v2',
      'oversized',
    ],
  ];
  for (const [name, bytes, mode, code] of refusals) {
    it(`refuses ${name} (${code})`, () => {
      const result = parseProxyHeader(bytes, mode);
      assert.equal(result.status, 'refused');
      assert.equal((result as Extract<ProxyHeaderResult, { status: 'refused' }>).code, code);
    });
  }

  it('refuses a non-header from its first differing byte, without waiting for more', () => {
    assert.equal(parseProxyHeader(Buffer.from([0x10]), 'any').status, 'refused');
    assert.equal(parseProxyHeader(Buffer.from('PROXX'), 'any').status, 'refused');
    assert.equal(parseProxyHeader(Buffer.from('PROX'), 'any').status, 'incomplete');
  });

  it('never throws and never claims more bytes than it was given, on any input (fuzz)', () => {
    const prefixes = [Buffer.from('PROXY '), signature, Buffer.alloc(0)];
    fc.assert(
      fc.property(
        fc.constantFrom(...prefixes),
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom('v1', 'v2', 'any'),
        (prefix, tail, mode) => {
          const bytes = Buffer.concat([prefix, tail]);
          const result = parseProxyHeader(bytes, mode as 'v1' | 'v2' | 'any');
          if (result.status === 'complete') assert.ok(result.length <= bytes.length);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('trusted load balancer addresses', () => {
  const trusted = new TrustedProxies(['10.0.0.0/8', '192.168.1.7', 'fd00::/8']);
  const cases: [string, boolean][] = [
    ['10.20.30.40', true],
    ['::ffff:10.1.2.3', true],
    ['192.168.1.7', true],
    ['192.168.1.8', false],
    ['11.0.0.1', false],
    ['fd12::1', true],
    ['2001:db8::1', false],
    ['', false],
  ];
  for (const [address, allowed] of cases) {
    it(`${address || '(no address)'} is ${allowed ? '' : 'not '}trusted`, () =>
      assert.equal(trusted.allows(address), allowed));
  }

  it('parses a CIDR list, and says why a wrong one is refused', () => {
    assert.deepEqual(parseCidrList(' 10.0.0.0/8, ::1/128 ,'), ['10.0.0.0/8', '::1/128']);
    assert.match(String(parseCidrList('10.0.0.0/33')), /prefix length 0-32/);
    assert.match(String(parseCidrList('example.com/8')), /not an IPv4 or IPv6/);
    assert.match(String(parseCidrList('10.0.0.0/8/1')), /not address\/bits/);
  });
});
