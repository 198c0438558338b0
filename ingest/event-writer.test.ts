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

function setUp(options: { maxUnackedBytes?: number; stallMs?: number } = {}) {
  const sink = new ManualSink();
  const clock = { ms: 0 };
  const registry = new Registry();
  const writer = new PacketEventWriter({
    producer: sink,
    topic: 'sentinel.packets',
    maxUnackedBytes: options.maxUnackedBytes ?? 1_000_000,
    stallMs: options.stallMs ?? 5000,
    registry,
    log: createLogger({ name: 'event-writer-test', level: 'silent' }),
    now: () => clock.ms,
  });
  return { sink, clock, registry, writer };
}

/** A writer with both lanes, each a producer the test acknowledges by hand. */
function twoLanes() {
  const publishes = new ManualSink();
  const connections = new ManualSink();
  const writer = new PacketEventWriter({
    producer: publishes,
    connectionEventsProducer: connections,
    topic: 'sentinel.packets',
    maxUnackedBytes: 1_000_000,
    stallMs: 5000,
    registry: new Registry(),
    log: createLogger({ name: 'event-writer-test', level: 'silent' }),
  });
  return { publishes, connections, writer };
}

/** Lets the promise callbacks of acknowledgements run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

async function metric(registry: Registry, name: string): Promise<number | undefined> {
  const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (found?.values[0] as { value: number } | undefined)?.value;
}

describe('PacketEventWriter', () => {
  it('sends connection events through their own lane, and anything a device waits for through the PUBLISH lane', async () => {
    const { publishes, connections, writer } = twoLanes();
    writer.write('dev-1', Buffer.from('connect'), undefined, 'connection');
    writer.write('dev-1', Buffer.from('qos0'), undefined, 'publish');
    writer.write('dev-1', Buffer.from('pubrel'), () => undefined, 'connection');
    assert.deepEqual(
      connections.sent.map((s) => String(s.record.value)),
      ['connect'],
    );
    assert.deepEqual(
      publishes.sent.map((s) => String(s.record.value)),
      ['qos0', 'pubrel'],
      'an event with a waiting device never takes the slower lane',
    );
    assert.equal(writer.unackedEvents, 3, 'both lanes count towards the bound and the stall');
    for (const sent of [...connections.sent, ...publishes.sent]) sent.ack();
    await settle();
    assert.equal(writer.unackedEvents, 0);
  });

  it('holds a session back until its CONNECT is stored: the CONNECT batches, its PUBLISHes never overtake it', async () => {
    const { publishes, connections, writer } = twoLanes();
    const stored: string[] = [];
    writer.write('dev-1', Buffer.from('connect'), undefined, 'session');
    writer.write('dev-1', Buffer.from('publish-1'), () => stored.push('publish-1'), 'publish');
    writer.write('dev-1', Buffer.from('disconnect'), undefined, 'connection');
    writer.write('dev-2', Buffer.from('other'), () => stored.push('other'), 'publish');
    assert.deepEqual(
      connections.sent.map((s) => String(s.record.value)),
      ['connect', 'disconnect'],
      'the CONNECT and the later connection event share the batching lane, in order',
    );
    assert.deepEqual(
      publishes.sent.map((s) => String(s.record.value)),
      ['other'],
      "dev-1's PUBLISH waits for its CONNECT; another device's does not",
    );
    assert.equal(writer.unackedEvents, 4, 'a held event counts towards the bound');
    connections.sent[0]?.ack();
    await settle();
    assert.deepEqual(
      publishes.sent.map((s) => String(s.record.value)),
      ['other', 'publish-1'],
      'sent once the CONNECT is stored',
    );
    for (const sent of [...connections.sent.slice(1), ...publishes.sent]) sent.ack();
    await settle();
    assert.deepEqual(stored.sort(), ['other', 'publish-1']);
    assert.equal(writer.unackedEvents, 0);
  });

  it('with one producer, a CONNECT is sent at once and nothing is held', async () => {
    const { sink, writer } = setUp();
    writer.write('dev-1', Buffer.from('connect'), undefined, 'session');
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
