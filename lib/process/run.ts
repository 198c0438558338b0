import { spawn } from 'node:child_process';

export interface CommandResult {
  /** The exit code; 1 when a signal ended the command, 127 when it could not be started. */
  readonly code: number;
  /** Standard output and standard error together, in arrival order. */
  readonly output: string;
  /** Set when the command could not be started at all (not installed, not executable). */
  readonly startError?: Error;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Kill the command after this long (SIGKILL unless `killSignal` says otherwise). */
  readonly limitMs?: number;
  readonly killSignal?: NodeJS.Signals;
}

/** Runs a command to its end and collects what it printed; never rejects. */
export function runToCompletion(
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      ...(options.env === undefined ? {} : { env: options.env }),
    });
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer =
      options.limitMs === undefined
        ? undefined
        : setTimeout(() => child.kill(options.killSignal ?? 'SIGKILL'), options.limitMs);
    child.on('error', (startError) => {
      clearTimeout(timer);
      resolve({ code: 127, output: startError.message, startError });
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, output });
    });
  });
}
