import { registerDatabaseGauges, registry } from '../../metrics.js';
import { metricsText } from '../../metricsServer.js';
import type { AppDeps } from '../context.js';
import { route, type RouteSpec } from '../route.js';

export function metricsRoutes(deps: AppDeps): RouteSpec[] {
  registerDatabaseGauges(deps.db);
  return [
    route({
      method: 'get',
      path: '/metrics',
      operationId: 'metrics',
      summary: 'Prometheus metrics',
      description:
        'Requests by route and status, latency histograms, runs started, rate-limit rejections, and cluster-wide runs, deliveries and credits read from the database.',
      tag: 'Operations',
      auth: { kind: 'public' },
      responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain' } },
      async handler(ctx) {
        ctx.type = registry.contentType;
        ctx.body = await metricsText(deps.sdkMetricsAddress);
      },
    }),
  ];
}
