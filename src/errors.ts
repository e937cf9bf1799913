/**
 * Errors the API turns into RFC 9457 problem+json bodies. Anything else thrown in a handler
 * is a bug: logged with the request id and answered as a bare 500 problem.
 */
export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'MALFORMED_JSON'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'CONFLICT'
  | 'LIMIT_EXCEEDED'
  | 'INSUFFICIENT_CREDITS'
  | 'RATE_LIMITED'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL_ERROR';

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, string>,
    /** Extra response headers, e.g. Retry-After. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const notFound = (what: string) => new AppError(404, 'NOT_FOUND', `${what} not found`);

export const serviceUnavailable = (what: string, retryAfterSeconds = 5) =>
  new AppError(503, 'SERVICE_UNAVAILABLE', `${what} is unavailable, retry shortly`, undefined, {
    'Retry-After': String(retryAfterSeconds),
  });
