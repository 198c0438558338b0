import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { renderSchemaTypes } from '../scripts/generate-schema-types.js';
import { samplePacketEvent } from '../test/fixtures/events.js';
import { avroTypeOf, frame, schemaDir, schemaIdOf } from './catalog.js';
import type { PacketEvent } from './types.generated.js';

describe('schema catalog', () => {
  it('keeps the generated TypeScript types in step with the .avsc files', () => {
    const committed = readFileSync(join(schemaDir, 'types.generated.ts'), 'utf8');
    assert.equal(
      committed,
      renderSchemaTypes(),
      'schemas/types.generated.ts is stale: run `npm run schemas:types`',
    );
  });

  it('round-trips a packet event through Avro binary', () => {
    const type = avroTypeOf.packets;
    const decoded = type.fromBuffer(type.toBuffer(samplePacketEvent)) as PacketEvent;
    assert.deepEqual({ ...decoded }, samplePacketEvent);
  });

  it('frames values in the Confluent wire format', () => {
    const framed = frame(42, Buffer.from([1, 2, 3]));
    assert.deepEqual([...framed], [0, 0, 0, 0, 42, 1, 2, 3]);
    assert.equal(schemaIdOf(framed), 42);
    assert.throws(() => schemaIdOf(Buffer.from([1, 0, 0, 0, 42])), /Confluent wire format/);
  });
});
