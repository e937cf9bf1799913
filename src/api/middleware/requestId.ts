import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from '../../logger.js';
import type { AppState } from '../context.js';
import { httpDuration, httpRequests } from '../../metrics.js';
import { redactPath } from './errors.js';

const ACCEPTABLE = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Honours a caller's X-Request-Id when it is a sane token (so a trace crosses systems) and
 * otherwise makes one. Echoed on every response, problem bodies included. Logs one line per
 * request with what an operator needs to find it.
 */
export function requestContext(log: Logger): Middleware<AppState> {
  return async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const requestId = ACCEPTABLE.test(incoming) ? incoming : `req_${randomUUID().replaceAll('-', '')}`;
    ctx.state.requestId = requestId;
    ctx.state.log = log.child({ request_id: requestId });
    ctx.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? null;
      // Unmatched paths share one label: a scanner must not explode the metric's cardinality.
      const routeLabel = route ?? 'unmatched';
      httpRequests.inc({ method: ctx.method, route: routeLabel, status: String(ctx.status) });
      httpDuration.observe({ method: ctx.method, route: routeLabel }, durationMs / 1000);
      ctx.state.log.info(
        {
          method: ctx.method,
          route,
          path: route ? undefined : redactPath(ctx.path).slice(0, 200),
          status: ctx.status,
          duration_ms: Math.round(durationMs * 10) / 10,
          org_id: ctx.state.auth?.orgId ?? ctx.state.orgId,
        },
        'request',
      );
    }
  };
}
