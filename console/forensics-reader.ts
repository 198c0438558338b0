import type { ClickHouseClient } from '@clickhouse/client';
import { prepareNamedQuery, runPreparedQuery } from '../forensics/queries.js';
import type { OffenderRow, TimelineRow } from './model.js';

/**
 * What the dashboard and the device page read from the forensic store: the same named queries as
 * `sentinel forensics`, through the sink's query endpoint or a ClickHouse server.
 */
export class ForensicsReader {
  constructor(private readonly client: ClickHouseClient) {}

  async topOffenders(since: string, limit: number): Promise<OffenderRow[]> {
    const rows = await runPreparedQuery(
      this.client,
      prepareNamedQuery('top-offenders', { positional: [], since, limit: String(limit) }),
    );
    return rows.map((row) => ({
      clientId: String(row.client_id ?? ''),
      ip: String(row.ip ?? ''),
      blocked: Number(row.blocked ?? 0),
      quarantined: Number(row.quarantined ?? 0),
      rules: String(row.rules ?? '')
        .split(',')
        .filter((r) => r !== ''),
      firstSeen: timeOf(row.first_seen),
      lastSeen: timeOf(row.last_seen),
    }));
  }

  async deviceTimeline(clientId: string, since: string, limit: number): Promise<TimelineRow[]> {
    const rows = await runPreparedQuery(
      this.client,
      prepareNamedQuery('device-timeline', { positional: [clientId], since, limit: String(limit) }),
    );
    return rows.map((row) => ({
      at: timeOf(row.time),
      kind: row.kind === 'verdict' ? 'verdict' : 'packet',
      eventId: String(row.event_id ?? ''),
      what: String(row.what ?? ''),
      topic: row.topic === null || row.topic === undefined || row.topic === '' ? null : String(row.topic),
      ip: String(row.ip ?? ''),
      detail: String(row.detail ?? ''),
    }));
  }

  /** A held message's payload as stored by the sink (`held_messages`); null when not there. */
  async heldPayload(heldId: string): Promise<Buffer | null> {
    const result = await this.client.query({
      query: 'SELECT base64Encode(payload) AS p FROM held_messages FINAL WHERE held_id = {id:String} LIMIT 1',
      query_params: { id: heldId },
      format: 'JSONEachRow',
    });
    const [row] = await result.json<{ p: string }>();
    return row ? Buffer.from(row.p, 'base64') : null;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** ClickHouse DateTime64 in JSON: `2026-12-06 10:31:05.123` (UTC). */
function timeOf(value: unknown): number {
  if (typeof value === 'number') return value;
  const text = String(value ?? '');
  const at = Date.parse(text.includes('T') ? text : `${text.replace(' ', 'T')}Z`);
  return Number.isNaN(at) ? 0 : at;
}
