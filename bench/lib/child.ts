import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';

/**
 * Load generators run in processes of their own, so the load never shares an event loop (or a
 * core's time slice) with the code that measures it. The suite talks to them over Node's IPC
 * channel: one request, one reply, matched by id.
 */
interface Request {
  readonly id: number;
  readonly command: string;
  readonly argument: unknown;
}
interface Reply {
  readonly id: number;
  readonly result?: unknown;
  readonly error?: string;
}

export class BenchChild {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private readonly exited: Promise<unknown>;

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (message: Reply) => {
      const pending = this.waiting.get(message.id);
      if (!pending) return;
      this.waiting.delete(message.id);
      if (message.error === undefined) pending.resolve(message.result);
      else pending.reject(new Error(`${name}: ${message.error}`));
    });
    this.exited = once(child, 'exit').then(([code]) => {
      for (const pending of this.waiting.values()) pending.reject(new Error(`${name} exited (${code})`));
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  request<T>(command: string, argument: unknown = null): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      // A process that exited (or is exiting) cannot answer: say so rather than emit an 'error' event.
      if (!this.child.connected) {
        reject(new Error(`${this.name} is not running (asked to ${command})`));
        return;
      }
      this.waiting.set(id, { resolve: (v) => resolve(v as T), reject });
      this.child.send({ id, command, argument } satisfies Request, (err) => {
        if (!err) return;
        this.waiting.delete(id);
        reject(new Error(`${this.name}: ${command} not sent: ${err.message}`));
      });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await Promise.race([this.exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** Starts `script` (a compiled module beside this one's parent) as a load process. */
export function startBenchChild(name: string, scriptUrl: URL, execArgv: string[] = []): BenchChild {
  const child = fork(scriptUrl, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
  return new BenchChild(name, child);
}

/** The child's side: answers each request with its handler's result, or the error's message. */
export function serveBenchRequests(handlers: Readonly<Record<string, (argument: never) => unknown>>): void {
  process.on('message', (request: Request) => {
    const handler = handlers[request.command];
    const reply = (body: Omit<Reply, 'id'>) => process.send?.({ id: request.id, ...body } satisfies Reply);
    if (!handler) {
      reply({ error: `unknown command ${request.command}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(request.argument as never))
      .then(
        (result) => reply({ result: result ?? null }),
        (error: unknown) => reply({ error: error instanceof Error ? error.message : String(error) }),
      );
  });
  process.on('SIGTERM', () => process.exit(0));
  process.on('disconnect', () => process.exit(0));
}
