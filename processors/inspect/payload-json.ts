/**
 * A payload read once per message, whichever steps ask: its UTF-8 text (null when it is not UTF-8)
 * and its JSON value (undefined when it is not JSON). The validate and patterns steps both need
 * them; parsing a 256 KiB JSON twice was a third of its inspection cost.
 */
interface Reading {
  readonly text: string | null;
  json?: { readonly value: unknown } | null;
}

const readings = new WeakMap<Buffer, Reading>();
const utf8 = new TextDecoder('utf-8', { fatal: true });

function readingOf(payload: Buffer): Reading {
  let reading = readings.get(payload);
  if (!reading) {
    let text: string | null;
    try {
      text = utf8.decode(payload);
    } catch {
      text = null;
    }
    reading = { text };
    readings.set(payload, reading);
  }
  return reading;
}

export function payloadText(payload: Buffer): string | null {
  return readingOf(payload).text;
}

/** The payload's JSON value, or null when it is not UTF-8 JSON. */
export function payloadJson(payload: Buffer): { readonly value: unknown } | null {
  const reading = readingOf(payload);
  if (reading.json === undefined) {
    if (reading.text === null) reading.json = null;
    else {
      try {
        reading.json = { value: JSON.parse(reading.text) };
      } catch {
        reading.json = null;
      }
    }
  }
  return reading.json;
}
