import { createHash, timingSafeEqual } from 'node:crypto';
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { z, ZodType } from 'zod';
import type { Scope } from '../domain/apiKeys.js';
import { AppError } from '../errors.js';
import type { AppContext, AppDeps, AppState } from './context.js';
import { jsonBody } from './middleware/body.js';
import type { FormOptions } from './middleware/formBody.js';
import { bearerOf, requireApiKey } from './middleware/auth.js';
import { validated } from './validate.js';

/**
 * `apiKey`: an API key or a portal session holding `scope` (null: any valid one, e.g. /v1/me);
 * with `streamToken`, a `?stream_token=` from POST /v1/runs/{id}/stream-token may stand in for it (EventSource).
 * `adminOrApiKey`: the operator's ADMIN_TOKEN (any org) or a key holding `scope` (its own org).
 */
export type RouteAuth =
  | { kind: 'public' }
  | { kind: 'apiKey'; scope: Scope | null; streamToken?: boolean }
  | { kind: 'adminOrApiKey'; scope: Scope }
  | { kind: 'admin' };
export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface ResponseSpec {
  description: string;
  schema?: ZodType;
  /** Defaults to application/json when a schema is given. */
  contentType?: string;
  headers?: Record<string, string>;
}

type Out<S> = S extends ZodType ? z.output<S> : undefined;

/**
 * One route: how it is served and how it is documented, in one place. The router and the
 * OpenAPI document are both built from these, so they cannot drift apart.
 */
export interface RouteSpec<B extends ZodType | undefined = ZodType | undefined, Q extends ZodType | undefined = ZodType | undefined> {
  method: HttpMethod;
  /** Koa-style path, e.g. `/v1/agents/:id`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  auth: RouteAuth;
  body?: B;
  /** Also read urlencoded and multipart form fields into `body` (token and trigger URLs only). */
  forms?: FormOptions;
  query?: Q;
  /** Request headers the route reads, name → description (documented as header parameters). */
  requestHeaders?: Record<string, string>;
  responses: Record<number, ResponseSpec>;
  /** Status for invalid input: 422 by default; 400 where a seed's clients expect it. */
  invalidStatus?: 400 | 422;
  /** Problem statuses this route can answer besides the ones implied by auth and input. */
  errors?: number[];
  /** False for the few routes that never read the database (no 503 while it is away). */
  usesDatabase?: false;
  handler(ctx: AppContext, input: { body: Out<B>; query: Out<Q> }): Promise<void> | void;
}

/** Identity with inference: `route({ body: Schema, handler: (ctx, { body }) => … })` types `body`. */
export function route<B extends ZodType | undefined = undefined, Q extends ZodType | undefined = undefined>(
  spec: RouteSpec<B, Q>,
): RouteSpec {
  return spec as unknown as RouteSpec;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * Whether a presented bearer token is the operator's configured one (ADMIN_TOKEN here,
 * METRICS_TOKEN for /metrics): compared as SHA-256 digests in constant time, so neither its
 * length nor its content leaks through timing. No configured token: nothing matches.
 */
export function operatorTokenMatches(presented: string | undefined, configured: string | undefined): boolean {
  const expected = configured ? digest(configured) : null;
  return Boolean(presented && expected && timingSafeEqual(digest(presented), expected));
}

/**
 * The operator's admin token, compared in constant time. Without ADMIN_TOKEN the admin API
 * does not exist: a 404 like any unknown route.
 */
function requireAdmin(deps: AppDeps): Middleware<AppState> {
  const expected = deps.config.ADMIN_TOKEN;
  return async (ctx, next) => {
    if (!expected) throw new AppError(404, 'NOT_FOUND', `No route for ${ctx.method} ${ctx.path}`);
    if (!operatorTokenMatches(bearerOf(ctx), expected)) {
      throw new AppError(401, 'UNAUTHORIZED', 'Missing or invalid admin token', undefined, { 'WWW-Authenticate': 'Bearer' });
    }
    return next();
  };
}

/** The operator's token marks the request `admin`; anything else must be a key holding `scope`. */
function requireAdminOrApiKey(deps: AppDeps, scope: Scope, clock: () => Date): Middleware<AppState> {
  const apiKey = requireApiKey(deps.db, scope, clock);
  return async (ctx, next) => {
    if (!operatorTokenMatches(bearerOf(ctx), deps.config.ADMIN_TOKEN)) return apiKey(ctx, next);
    ctx.state.admin = true;
    return next();
  };
}

export function mountRoutes(router: Router<AppState>, deps: AppDeps, routes: RouteSpec[]): void {
  const clock = deps.clock;
  for (const spec of routes) {
    const middleware: Middleware<AppState>[] = [];
    if (spec.auth.kind === 'apiKey') middleware.push(requireApiKey(deps.db, spec.auth.scope, clock, { streamToken: spec.auth.streamToken }));
    if (spec.auth.kind === 'adminOrApiKey') middleware.push(requireAdminOrApiKey(deps, spec.auth.scope, clock));
    if (spec.auth.kind === 'admin') middleware.push(requireAdmin(deps));
    // After routing and authentication: a body is read for a known route and a known caller
    // only, and its errors are counted and logged under that route.
    middleware.push(jsonBody(deps.config.BODY_LIMIT_BYTES, spec.forms));
    middleware.push(
      validated({ body: spec.body, query: spec.query }, (ctx, input) => Promise.resolve(spec.handler(ctx, input as never)), spec.invalidStatus),
    );
    router[spec.method](spec.operationId, spec.path, ...(middleware as [Middleware<AppState>]));
  }
}
