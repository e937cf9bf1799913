import { registerDatabaseGauges, registry } from '../../metrics.js';
import { metricsAuthorized, metricsText } from '../../metricsServer.js';
import { AppError } from '../../errors.js';
import type { AppDeps } from '../context.js';
import { route, type RouteSpec } from '../route.js';

export function metricsRoutes(deps: AppDeps): RouteSpec[] {
  registerDatabaseGauges(deps.db, deps.config.METRICS_GAUGE_INTERVAL_SECONDS * 1000);
  return [
    route({
      method: 'get',
      path: '/metrics',
      operationId: 'metrics',
      summary: 'Prometheus metrics',
      description:
        'Requests by route and status, latency histograms, runs started, rate-limit rejections, and cluster-wide runs, deliveries and credits read from the database ' +
        '(computed by one process of the cluster per METRICS_GAUGE_INTERVAL_SECONDS and stored; a scrape only reads them). When METRICS_TOKEN is set, send `Authorization: Bearer <METRICS_TOKEN>`.',
      tag: 'Operations',
      auth: { kind: 'public' },
      errors: [401],
      responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain' } },
      async handler(ctx) {
        if (!metricsAuthorized(deps.config.METRICS_TOKEN, ctx.get('authorization'))) {
          throw new AppError(401, 'UNAUTHORIZED', 'Missing or invalid metrics token: send Authorization: Bearer <METRICS_TOKEN>', undefined, {
            'WWW-Authenticate': 'Bearer',
          });
        }
        ctx.type = registry.contentType;
        ctx.body = await metricsText(deps.sdkMetricsAddress);
      },
    }),
  ];
}
