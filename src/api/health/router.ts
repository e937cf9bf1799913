import { z } from 'zod';
import type { AppDeps } from '../context.js';
import { route, type RouteSpec } from '../route.js';

const HealthSchema = z.object({ status: z.literal('ok') });
const ReadySchema = z.object({
  status: z.enum(['ready', 'unavailable']),
  checks: z.object({ database: z.enum(['ok', 'unreachable']), temporal: z.enum(['ok', 'unreachable']) }),
});

/** Public ops routes: liveness says the process answers; readiness says its dependencies do. */
export function healthRoutes(deps: AppDeps): RouteSpec[] {
  const tag = 'Operations';
  return [
    route({
      method: 'get',
      path: '/healthz',
      operationId: 'health',
      summary: 'Liveness',
      tag,
      auth: { kind: 'public' },
      usesDatabase: false,
      responses: { 200: { description: 'The process answers', schema: HealthSchema } },
      handler(ctx) {
        ctx.body = { status: 'ok' };
      },
    }),
    route({
      method: 'get',
      path: '/readyz',
      operationId: 'ready',
      summary: 'Readiness',
      description: 'Ready when the database and Temporal both answer.',
      tag,
      auth: { kind: 'public' },
      responses: {
        200: { description: 'Ready', schema: ReadySchema },
        503: { description: 'A dependency is unreachable', schema: ReadySchema, headers: { 'Retry-After': 'Seconds to wait' } },
      },
      async handler(ctx) {
        const [database, temporal] = await Promise.all([deps.readiness.database(), deps.readiness.temporal()]);
        const ready = database && temporal;
        ctx.status = ready ? 200 : 503;
        if (!ready) ctx.set('Retry-After', '5');
        ctx.body = {
          status: ready ? 'ready' : 'unavailable',
          checks: { database: database ? 'ok' : 'unreachable', temporal: temporal ? 'ok' : 'unreachable' },
        };
      },
    }),
  ];
}
