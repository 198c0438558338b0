import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTcpCounters, readTcpCounters, tcpCountersSince } from './tcp-counters.js';

const netstat = [
  'TcpExt: SyncookiesSent SyncookiesRecv ListenOverflows ListenDrops TCPSynRetrans',
  'TcpExt: 0 0 671 671 621',
  'IpExt: InNoRoutes InTruncatedPkts',
  'IpExt: 0 0',
  '',
].join('\n');

test('tcp counters: the TcpExt fields by name, whatever their position', () => {
  assert.deepEqual(parseTcpCounters(netstat), { listenOverflows: 671, synRetransmits: 621 });
  const reordered = 'IpExt: InNoRoutes\nIpExt: 3\nTcpExt: TCPSynRetrans ListenOverflows\nTcpExt: 5 9\n';
  assert.deepEqual(parseTcpCounters(reordered), { listenOverflows: 9, synRetransmits: 5 });
});

test('tcp counters: a kernel without a field is an error that names it', () => {
  assert.throws(() => parseTcpCounters('TcpExt: ListenOverflows\nTcpExt: 1\n'), /TCPSynRetrans/);
});

test('tcp counters: this machine exposes them; a difference is after minus before', () => {
  const before = readTcpCounters();
  assert.ok(Number.isInteger(before.listenOverflows) && Number.isInteger(before.synRetransmits));
  const after = { listenOverflows: before.listenOverflows + 3, synRetransmits: before.synRetransmits + 2 };
  assert.deepEqual(tcpCountersSince(before, after), { listenOverflows: 3, synRetransmits: 2 });
});
