import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * JSON logs on stdout. Credentials never reach a log line: request headers that carry them
 * are redacted wherever they appear, and handlers log ids, never bodies.
 */
export function createLogger(level: string, name: string, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
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
  };
  // A destination of its own lets tests read what the product logs, redaction included.
  return destination ? pino(options, destination) : pino(options);
}
