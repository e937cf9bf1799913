import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { activeTraceId } from './telemetry.js';

export type { Logger };

/**
 * Logs on stdout: one JSON object per line for log collectors (a pipe, a file, a container
 * runtime), and pino-pretty's readable lines when a person watches a terminal (stdout is a
 * TTY, as with `npm run dev`). Credentials never reach a log line in either form: request
 * headers that carry them are redacted wherever they appear, and handlers log ids, never bodies.
 */
export function createLogger(
  level: string,
  name: string,
  destination?: DestinationStream,
  terminal = !destination && process.stdout.isTTY === true,
): Logger {
  const options = {
    name,
    level,
    base: { service: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Inside a traced request or activity, every line names its trace (OpenTelemetry).
    mixin: () => {
      const traceId = activeTraceId();
      return traceId ? { trace_id: traceId } : {};
    },
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
  } satisfies pino.LoggerOptions;
  // A destination of its own lets tests read what the product logs, redaction included.
  if (destination) return pino(options, destination);
  // sync: lines are written before a crash or process.exit, as with JSON on stdout.
  return terminal ? pino(options, pretty({ colorize: true, sync: true, ignore: 'pid,hostname,service', translateTime: 'SYS:HH:MM:ss.l' })) : pino(options);
}
