import type { Message, Producer } from 'kafkajs';
import type { Logger } from '../lib/log.js';

/**
 * Batches records for one topic and writes them with acks=all, one request at a time so records
 * keep their order. `write` resolves when the record is stored on the in-sync replicas. A failed
 * request is retried (kafkajs retries first, then this class with a capped delay) until it succeeds
 * or the writer is closed: what is waiting for it (an offset commit, an origin PUBACK) simply waits.
 */
export interface RecordWriterOptions {
  readonly producer: Producer;
  readonly topic: string;
  readonly lingerMs: number;
  readonly maxBatch: number;
  readonly log: Logger;
}

interface Waiting {
  readonly message: Message;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

export class RecordWriter {
  private readonly options: RecordWriterOptions;
  private buffer: Waiting[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private closed = false;

  constructor(options: RecordWriterOptions) {
    this.options = options;
  }

  write(message: Message): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`writer for ${this.options.topic} is closed`));
    return new Promise((resolve, reject) => {
      this.buffer.push({ message, resolve, reject });
      if (this.buffer.length >= this.options.maxBatch) this.kick();
      else if (!this.timer) this.timer = setTimeout(() => this.kick(), this.options.lingerMs);
    });
  }

  /** Writes what is buffered, then refuses new records. */
  async close(): Promise<void> {
    while (this.buffer.length > 0 || this.sending) {
      this.kick();
      await this.sending;
    }
    this.closed = true;
  }

  private kick(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.sending || this.buffer.length === 0) return;
    const batch = this.buffer.splice(0, this.options.maxBatch);
    this.sending = this.send(batch).finally(() => {
      this.sending = null;
      if (this.buffer.length > 0) this.kick();
    });
  }

  private async send(batch: Waiting[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.producer.send({
          topic: this.options.topic,
          acks: -1,
          messages: batch.map((w) => w.message),
        });
        for (const w of batch) w.resolve();
        return;
      } catch (err) {
        if (this.closed) {
          for (const w of batch) w.reject(err as Error);
          return;
        }
        const delay = Math.min(5000, 100 * 2 ** Math.min(attempt, 6));
        this.options.log.warn(
          {
            topic: this.options.topic,
            records: batch.length,
            attempt,
            delayMs: delay,
            err: (err as Error).message,
          },
          'record write failed; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}
