import { STATUS_CODES } from 'node:http';
import type { Middleware } from 'koa';
import { ZodError } from 'zod';
import { isDatabaseUnavailable } from '../../db/health.js';
import { InvalidPageRequest } from '../../db/pagination.js';
import { AppError, serviceUnavailable } from '../../errors.js';
import type { AppState } from '../context.js';
import { zodDetails } from '../validate.js';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  code: string;
  request_id: string;
  details?: Record<string, string>;
  [extension: string]: unknown;
}

/** Token URLs (webhooks, triggers) carry their credential in the path: never echo or log it. */
export const redactPath = (path: string) => path.replace(/\b(whk|trg)_[A-Za-z0-9_-]+/g, '$1_***');

const problemType = (code: string) => `/docs/errors#${code.toLowerCase().replaceAll('_', '-')}`;

/** The only place errors become responses: RFC 9457 problem+json with our code and request id. */
export function problemResponses(): Middleware<AppState> {
  return async (ctx, next) => {
    let error: AppError;
    try {
      await next();
      if (ctx.status !== 404 || ctx.body !== undefined) return;
      error = new AppError(404, 'NOT_FOUND', `No route for ${ctx.method} ${ctx.path}`);
    } catch (err) {
      error = toAppError(err);
      if (error.status >= 500 && error.code === 'INTERNAL_ERROR') {
        ctx.state.log?.error({ err }, 'unhandled error');
      } else if (!(err instanceof AppError) && error.code === 'SERVICE_UNAVAILABLE') {
        ctx.state.log?.warn({ reason: (err as Error).message }, 'database unavailable');
      }
    }
    const problem: Problem = {
      type: problemType(error.code),
      title: STATUS_CODES[error.status] ?? 'Error',
      status: error.status,
      detail: error.message,
      instance: redactPath(ctx.path).slice(0, 500),
      code: error.code,
      request_id: ctx.state.requestId,
      ...(error.details ? { details: error.details } : {}),
      ...error.extensions,
    };
    ctx.status = error.status;
    for (const [name, value] of Object.entries(error.headers ?? {})) ctx.set(name, value);
    ctx.type = 'application/problem+json';
    ctx.body = problem;
  };
}

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof ZodError) {
    return new AppError(422, 'VALIDATION_FAILED', 'The request is invalid', zodDetails(err, 'body'));
  }
  if (err instanceof InvalidPageRequest) {
    return new AppError(422, 'VALIDATION_FAILED', 'The request is invalid', { [err.field]: err.message });
  }
  if (isDatabaseUnavailable(err)) return serviceUnavailable('The database');
  const pgCode = (err as { code?: unknown })?.code;
  if (pgCode === '23505') return new AppError(409, 'CONFLICT', 'A resource with these values already exists');
  if (pgCode === '23503') return new AppError(422, 'VALIDATION_FAILED', 'A referenced resource does not exist');
  // Koa / http-errors thrown by framework code (e.g. router's allowedMethods).
  const status = (err as { status?: unknown; expose?: unknown })?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = status === 405 ? 'METHOD_NOT_ALLOWED' : status === 404 ? 'NOT_FOUND' : 'VALIDATION_FAILED';
    return new AppError(status, code, STATUS_CODES[status] ?? 'Bad request');
  }
  return new AppError(500, 'INTERNAL_ERROR', 'An unexpected error occurred; it has been logged with this request id');
}
