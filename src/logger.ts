import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs on stdout. Credentials never reach a log line: request headers that carry them
 * are redacted wherever they appear, and handlers log ids, never bodies.
 */
export function createLogger(level: string, name: string): Logger {
  return pino({
    name,
    level,
    base: { service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'authorization',
        '*.authorization',
        'headers.authorization',
        '*.headers.authorization',
        'api_key',
        '*.api_key',
        'token',
        '*.token',
        'secret',
        '*.secret',
      ],
      censor: '[redacted]',
    },
  });
}
