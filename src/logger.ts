import { pino, type Logger } from 'pino';
import { activeTraceId } from './telemetry.js';

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
  });
}
