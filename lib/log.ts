import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Secrets are redacted by path wherever they may appear in a log object,
 * so a careless `log.info({ config })` cannot leak a password.
 */
export function createLogger(options: {
  name: string;
  level?: string;
  destination?: number | string;
}): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? process.env.SENTINEL_LOG_LEVEL ?? 'info',
      redact: {
        paths: [
          'password',
          '*.password',
          '*.*.password',
          'secret',
          '*.secret',
          'authorization',
          '*.authorization',
        ],
        censor: '[redacted]',
      },
      base: { service: options.name, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination(options.destination ?? 1),
  );
}
