/**
 * Errors the API turns into RFC 9457 problem+json bodies. Anything else thrown in a handler
 * is a bug: logged with the request id and answered as a bare 500 problem.
 */
export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'MALFORMED_JSON'
  | 'MALFORMED_FORM'
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
  | 'AGENT_FAILED'
  | 'AGENT_TIMED_OUT'
  | 'SYNC_WAIT_EXCEEDED'
  | 'INTERNAL_ERROR';

/** What each code means, for the error reference at /docs/errors. */
export const ERROR_CODES: Record<ErrorCode, string> = {
  VALIDATION_FAILED: 'The body, query or path did not match the schema; details maps each bad field to a message.',
  MALFORMED_JSON: 'The body is not valid JSON (or not UTF-8).',
  MALFORMED_FORM: 'A form body (urlencoded or multipart) that cannot be read, or whose field names conflict.',
  UNSUPPORTED_MEDIA_TYPE: 'Send bodies as application/json (token and trigger URLs also take form fields, never file parts).',
  PAYLOAD_TOO_LARGE: 'The body is larger than the server accepts.',
  UNAUTHORIZED: 'No API key, or one that is unknown or revoked.',
  FORBIDDEN: 'The API key lacks a scope the route requires, or the action is not open to agent-scoped keys.',
  NOT_FOUND: 'No such route, or no such resource in your organization.',
  METHOD_NOT_ALLOWED: 'The route exists but not with this method.',
  CONFLICT: 'The resource already exists or changed concurrently.',
  LIMIT_EXCEEDED: 'An organization limit was reached.',
  INSUFFICIENT_CREDITS: 'The organization has no credits left for a run.',
  RATE_LIMITED: 'Too many requests; wait for Retry-After seconds.',
  SERVICE_UNAVAILABLE: 'A dependency (database or workflow engine) is unavailable; retry after Retry-After seconds.',
  AGENT_FAILED: 'The agent could not answer this message; run_id names the run to inspect.',
  AGENT_TIMED_OUT: 'The agent did not answer within its run timeout; run_id names the run.',
  SYNC_WAIT_EXCEEDED: 'A token URL set to answer 504 on a timeout: the run is still working; poll status_url (or retry with the same Idempotency-Key).',
  INTERNAL_ERROR: 'A bug on our side; it was logged with the request id.',
};

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, string>,
    /** Extra response headers, e.g. Retry-After. */
    readonly headers?: Record<string, string>,
    /** Extension members of the problem body, e.g. run_id or validationErrors. */
    readonly extensions?: Record<string, unknown>,
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

/**
 * A validation failure with one message per bad field (`details`), as zod failures are
 * answered: 422 by default, 400 on routes whose seed clients expect it.
 */
export const invalid = (details: Record<string, string>, status: 400 | 422 = 422) =>
  new AppError(status, 'VALIDATION_FAILED', 'The request is invalid', details);
