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

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function textProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain NUL (\\u0000) characters';
  if (LONE_SURROGATE.test(text)) return 'must be valid Unicode text (it holds an unpaired UTF-16 surrogate)';
  return null;
}

/**
 * The first string or object key in `value` that cannot be stored as text: a NUL character
 * (PostgreSQL text and jsonb refuse it) or an unpaired surrogate (not Unicode; jsonb refuses
 * its escape, text would silently change it). Checked once here for every route, so every
 * field of every body and query is covered without a rule per field. Iterative: a deeply
 * nested body cannot exhaust the stack.
 */
export function findUnstorableText(value: unknown): { path: string[]; problem: string } | null {
  // Parent links instead of a path per node: a 100,000-deep body stays linear.
  type Node = { value: unknown; key: string; parent: Node | null };
  const pathOf = (node: Node | null, last?: string) => {
    const path: string[] = last === undefined ? [] : [last];
    for (let n = node; n && n.parent; n = n.parent) path.unshift(n.key);
    return path;
  };
  const stack: Node[] = [{ value, key: '', parent: null }];
  while (stack.length) {
    const node = stack.pop()!;
    if (typeof node.value === 'string') {
      const problem = textProblem(node.value);
      if (problem) return { path: pathOf(node), problem };
    } else if (node.value !== null && typeof node.value === 'object') {
      for (const [key, child] of Object.entries(node.value)) {
        const problem = textProblem(key);
        if (problem) return { path: pathOf(node, key.replaceAll('\u0000', '\ufffd').replace(/[\ud800-\udfff]/g, '\ufffd')), problem: `has a key that ${problem}` };
        stack.push({ value: child, key, parent: node });
      }
    }
  }
  return null;
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
      const unstorable = findUnstorableText(value);
      if (unstorable) {
        details[unstorable.path.length ? unstorable.path.join('.') : root] = unstorable.problem;
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
