import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { RecordToSend } from '../lib/kafka/rdkafka.js';
import { createLogger } from '../lib/log.js';
import { type PacketEventSink, PacketEventWriter, recordOverheadBytes } from './event-writer.js';

/** A producer whose acknowledgements the test hands out one by one. */
class ManualSink implements PacketEventSink {
  readonly sent: Array<{ record: RecordToSend; ack(): void; fail(err: Error): void }> = [];

  send(record: RecordToSend): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.sent.push({ record, ack: () => resolve({ partition: 0, offset: 0 }), fail: reject });
    });
  }
}

function setUp(
  options: { maxUnackedBytes?: number; stallMs?: number; connectionEventsHoldMs?: number } = {},
) {
  const sink = new ManualSink();
  const clock = { ms: 0 };
  const registry = new Registry();
  const writer = new PacketEventWriter({
    producer: sink,
    connectionEventsHoldMs: options.connectionEventsHoldMs ?? 0,
    topic: 'sentinel.packets',
    maxUnackedBytes: options.maxUnackedBytes ?? 1_000_000,
    stallMs: options.stallMs ?? 5000,
    registry,
    log: createLogger({ name: 'event-writer-test', level: 'silent' }),
    now: () => clock.ms,
  });
  return { sink, clock, registry, writer };
}

/** A writer that holds connection events for 200 ms. */
const holding = () => setUp({ connectionEventsHoldMs: 200 });

/** Lets the promise callbacks of acknowledgements run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

async function metric(registry: Registry, name: string): Promise<number | undefined> {
  const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (found?.values[0] as { value: number } | undefined)?.value;
}

describe('PacketEventWriter', () => {
  it('holds connection events and sends them together when the hold ends', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { sink, writer } = holding();
    writer.write('dev-1', Buffer.from('connect-1'), undefined, 'connection');
    t.mock.timers.tick(150);
    writer.write('dev-2', Buffer.from('connect-2'), undefined, 'connection');
    writer.write('dev-1', Buffer.from('disconnect-1'), undefined, 'connection');
    assert.equal(sink.sent.length, 0, 'nothing is sent during the hold');
    assert.equal(writer.unackedEvents, 3, 'held events count towards the bound and the stall');
    t.mock.timers.tick(50);
    assert.deepEqual(
      sink.sent.map((s) => String(s.record.value)),
      ['connect-1', 'disconnect-1', 'connect-2'],
      'all at once, 200 ms after the first; each client in its order',
    );
    writer.write('dev-3', Buffer.from('connect-3'), undefined, 'connection');
    t.mock.timers.tick(199);
    assert.equal(sink.sent.length, 3, 'a new hold starts with the next event');
    t.mock.timers.tick(1);
    assert.equal(sink.sent.length, 4);
  });

  it("sends a client's held events before its PUBLISH, which never waits for the hold; other clients' stay held", (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { sink, writer } = holding();
    writer.write('dev-1', Buffer.from('connect-1'), undefined, 'connection');
    writer.write('dev-2', Buffer.from('connect-2'), undefined, 'connection');
    writer.write('dev-1', Buffer.from('publish-1'), () => undefined, 'publish');
    assert.deepEqual(
      sink.sent.map((s) => String(s.record.value)),
      ['connect-1', 'publish-1'],
      'the CONNECT goes first, so the processors see the session before its PUBLISH',
    );
    writer.write('dev-2', Buffer.from('pubrel-2'), () => undefined, 'connection');
    assert.deepEqual(
      sink.sent.map((s) => String(s.record.value)).slice(2),
      ['connect-2', 'pubrel-2'],
      'an event a device waits for is never held, and releases its client first',
    );
    t.mock.timers.tick(200);
    assert.equal(sink.sent.length, 4, 'nothing left to send when the hold ends');
  });

  it('flush hands held events over at once and waits for them', async () => {
    const { sink, writer } = holding();
    writer.write('dev-1', Buffer.from('disconnect'), undefined, 'connection');
    const flushed = writer.flush(60_000);
    assert.equal(sink.sent.length, 1, 'shutdown does not wait out the hold');
    sink.sent[0]?.ack();
    assert.equal(await flushed, 0);
  });

  it('without a hold, a connection event is sent at once', async () => {
    const { sink, writer } = setUp();
    writer.write('dev-1', Buffer.from('connect'), undefined, 'connection');
    writer.write('dev-1', Buffer.from('publish'), undefined, 'publish');
    assert.deepEqual(
      sink.sent.map((s) => String(s.record.value)),
      ['connect', 'publish'],
    );
  });

  it('calls an event back only once Kafka acknowledged it, keyed by client id', async () => {
    const { sink, writer } = setUp();
    const stored: Array<Error | undefined> = [];
    writer.write('dev-1', Buffer.from('event'), (error) => stored.push(error));
    await settle();
    assert.deepEqual(stored, [], 'nothing is stored before the acknowledgement');
    assert.equal(sink.sent[0]?.record.key, 'dev-1');
    assert.equal(sink.sent[0]?.record.topic, 'sentinel.packets');
    sink.sent[0]?.ack();
    await settle();
    assert.deepEqual(stored, [undefined]);
    assert.equal(writer.unackedEvents, 0);
    assert.equal(writer.unackedBytes, 0);
  });

  it('calls back with the error for an event Kafka will never acknowledge', async () => {
    const { sink, writer, registry } = setUp();
    const stored: Array<Error | undefined> = [];
    writer.write('dev-1', Buffer.from('event'), (error) => stored.push(error));
    sink.sent[0]?.fail(new Error('producer closed before the record was acknowledged'));
    await settle();
    assert.match(String(stored[0]?.message), /producer closed/);
    assert.equal(await metric(registry, 'sentinel_ingest_kafka_failed_total'), 1);
  });

  it('counts key, value and a fixed overhead per event, and asks to pause past the bound without dropping', async () => {
    const eventBytes = 3 + 1000 + recordOverheadBytes;
    const { sink, writer } = setUp({ maxUnackedBytes: eventBytes * 4 });
    const accepted = Array.from({ length: 5 }, () => writer.write('dev', Buffer.alloc(1000)));
    assert.deepEqual(accepted, [true, true, true, true, false]);
    assert.equal(sink.sent.length, 5, 'the event past the bound is sent all the same');
    assert.equal(writer.unackedBytes, eventBytes * 5);
    assert.equal(writer.write('dev', Buffer.alloc(1)), false, 'stays paused until drained');
  });

  it('resumes readers once the unacknowledged bytes are back under half the bound', async () => {
    const { sink, writer, registry } = setUp({ maxUnackedBytes: 4 * (1000 + recordOverheadBytes) });
    for (let i = 0; i < 5; i++) writer.write('', Buffer.alloc(1000));
    let drained = false;
    void writer.onDrain().then(() => {
      drained = true;
    });
    assert.equal(await metric(registry, 'sentinel_ingest_kafka_backpressure'), 1);
    for (const send of sink.sent.slice(0, 2)) send.ack();
    await settle();
    assert.equal(drained, false, 'three of five left: above half the bound');
    sink.sent[2]?.ack();
    await settle();
    assert.equal(drained, true, 'two of five left: half the bound');
    assert.equal(writer.write('', Buffer.alloc(1)), true);
    assert.equal(await metric(registry, 'sentinel_ingest_kafka_backpressure'), 0);
  });

  it('counts Kafka down while the OLDEST unacknowledged event is older than the stall threshold', async () => {
    const { sink, clock, writer, registry } = setUp({ stallMs: 5000 });
    assert.equal(writer.kafkaUp, true, 'nothing waits: up');
    writer.write('slow-partition', Buffer.from('a'));
    clock.ms = 3000;
    writer.write('fast-partition', Buffer.from('b'));
    clock.ms = 4000;
    sink.sent[1]?.ack();
    await settle();
    assert.equal(writer.kafkaUp, true);
    clock.ms = 5000;
    assert.equal(writer.kafkaUp, false, 'later acknowledgements do not hide the stalled event');
    assert.equal(await metric(registry, 'sentinel_ingest_kafka_up'), 0);
    assert.equal(await metric(registry, 'sentinel_ingest_kafka_oldest_unacked_seconds'), 5);
    writer.write('fast-partition', Buffer.from('c'));
    sink.sent[0]?.ack();
    await settle();
    assert.equal(writer.kafkaUp, true, 'the oldest waiting is now the one just sent');
    assert.equal(writer.oldestUnackedMs, 0);
    assert.equal(await metric(registry, 'sentinel_ingest_kafka_up'), 1);
  });

  it('counts Kafka down for good once the producer failed', () => {
    const { writer } = setUp();
    writer.failed(new Error('fatal idempotence error'));
    assert.equal(writer.kafkaUp, false);
  });

  it('flush waits for every acknowledgement, and says how many are left when the time is up', async () => {
    const { sink, writer } = setUp();
    assert.equal(await writer.flush(10), 0, 'nothing sent: nothing to wait for');
    writer.write('a', Buffer.from('1'));
    writer.write('b', Buffer.from('2'));
    const flushed = writer.flush(60_000);
    for (const send of sink.sent) send.ack();
    assert.equal(await flushed, 0);
    writer.write('c', Buffer.from('3'));
    assert.equal(await writer.flush(1), 1);
  });
});
