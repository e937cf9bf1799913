import type { Middleware } from 'koa';
import { z, type ZodError, type ZodType } from 'zod';
import { AppError } from '../errors.js';
import type { AppContext, AppState } from './context.js';

/** Field path → message, the `details` of a VALIDATION_FAILED problem. */
export function zodDetails(error: ZodError, root: string): Record<string, string> {
  const details: Record<string, string> = {};
  for (const issue of error.issues) {
    const path = issue.path.length ? issue.path.map(String).join('.') : root;
    details[path] ??= issue.message;
  }
  return details;
}

interface Schemas {
  body?: ZodType;
  query?: ZodType;
  params?: ZodType;
}

type Infer<S, K extends keyof Schemas> = S extends { [P in K]: infer T extends ZodType } ? z.output<T> : undefined;

export type Input<S extends Schemas> = { body: Infer<S, 'body'>; query: Infer<S, 'query'>; params: Infer<S, 'params'> };

/**
 * Wraps a handler so it only ever sees parsed, typed input: the body, query and path
 * parameters each pass their zod schema or the request ends in a 422 with `details`.
 */
export function validated<S extends Schemas>(
  schemas: S,
  handler: (ctx: AppContext, input: Input<S>) => Promise<void>,
  invalidStatus: 400 | 422 = 422,
): Middleware<AppState> {
  return async (ctx) => {
    const details: Record<string, string> = {};
    const parse = (schema: ZodType | undefined, value: unknown, root: string) => {
      if (!schema) return undefined;
      if (root === 'body' && value === undefined) {
        details.body = 'A JSON request body is required';
        return undefined;
      }
      const result = schema.safeParse(value);
      if (result.success) return result.data;
      Object.assign(details, zodDetails(result.error, root));
      return undefined;
    };
    const params = parse(schemas.params, (ctx as { params?: unknown }).params ?? {}, 'params');
    const query = parse(schemas.query, ctx.query, 'query');
    const body = parse(schemas.body, ctx.state.body, 'body');
    if (Object.keys(details).length) {
      throw new AppError(invalidStatus, 'VALIDATION_FAILED', 'The request is invalid', details);
    }
    await handler(ctx, { body, query, params } as Input<S>);
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Path ids are UUIDs; anything else cannot name a resource, so it is a 404, not a 422. */
export function resourceId(value: string | undefined, what: string): string {
  if (!value || !UUID.test(value)) throw new AppError(404, 'NOT_FOUND', `${what} not found`);
  return value.toLowerCase();
}
