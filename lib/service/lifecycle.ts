import type { Logger } from '../log.js';

/**
 * Graceful shutdown: on SIGTERM or SIGINT the service stops taking work, drains what it holds
 * (e.g. flushes and awaits in-flight Kafka writes), then exits 0. A second signal, or a drain longer
 * than the grace period, exits 1 so an orchestrator is never left waiting.
 */
export function onShutdown(options: { log: Logger; graceMs: number; drain: () => Promise<void> }): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      options.log.warn({ signal }, 'second signal: exiting without finishing the drain');
      process.exit(1);
    }
    stopping = true;
    options.log.info({ signal, graceMs: options.graceMs }, 'shutting down');
    const timer = setTimeout(() => {
      options.log.error({ graceMs: options.graceMs }, 'drain did not finish within the grace period');
      process.exit(1);
    }, options.graceMs);
    timer.unref();
    options.drain().then(
      () => {
        options.log.info('stopped cleanly');
        process.exit(0);
      },
      (err: unknown) => {
        options.log.error({ err }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/**
 * For a service whose Kafka consumer stopped for good (kafkajs gave up restarting it): exit, so
 * the supervisor (systemd, Kubernetes, `sentinel up`) starts a fresh process.
 */
export function exitOnFatal(log: Logger): (err: Error) => void {
  return (err) => {
    log.fatal({ err }, 'the Kafka consumer stopped for good; exiting so the supervisor restarts the service');
    process.exit(1);
  };
}
