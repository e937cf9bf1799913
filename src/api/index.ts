import Router from '@koa/router';
import Koa from 'koa';
import { adminRoutes } from './admin/router.js';
import { agentRoutes } from './agents/router.js';
import { apiKeyRoutes } from './apiKeys/router.js';
import type { AppDeps, AppState } from './context.js';
import { consoleMiddleware } from './console.js';
import { conversationRoutes } from './conversations/router.js';
import { creditRoutes } from './credits/router.js';
import { docsRoutes } from './docs/router.js';
import { endpointRoutes } from './endpoints/router.js';
import { eventRoutes } from './events/router.js';
import { metricsRoutes } from './health/metrics.js';
import { meRoutes } from './me/router.js';
import { healthRoutes } from './health/router.js';
import { problemResponses } from './middleware/errors.js';
import { requestContext } from './middleware/requestId.js';
import { portalSessionRoutes } from './portalSessions/router.js';
import { mountRoutes, type RouteSpec } from './route.js';
import { recoveryRoutes } from './recoveries/router.js';
import { runRoutes } from './runs/router.js';
import { scheduleRoutes } from './schedules/router.js';
import { taskRoutes } from './tasks/router.js';
import { triggerRoutes } from './triggers/router.js';
import { publicWebhookRoutes } from './webhooks/public.js';
import { webhookRoutes } from './webhooks/router.js';
import { traceRequests } from '../telemetry.js';

export type { AppDeps } from './context.js';

/** Every route of the API; the router and the OpenAPI document are both built from this list. */
export function apiRoutes(deps: AppDeps): RouteSpec[] {
  const routes: RouteSpec[] = [
    ...healthRoutes(deps),
    ...metricsRoutes(deps),
    ...agentRoutes(deps),
    ...apiKeyRoutes(deps),
    ...runRoutes(deps),
    ...scheduleRoutes(deps),
    ...taskRoutes(deps),
    ...conversationRoutes(deps),
    ...webhookRoutes(deps),
    ...publicWebhookRoutes(deps),
    ...triggerRoutes(deps),
    ...endpointRoutes(deps),
    ...recoveryRoutes(deps),
    ...eventRoutes(deps),
    ...creditRoutes(deps),
    ...adminRoutes(deps),
    ...meRoutes(deps),
    ...portalSessionRoutes(deps),
  ];
  routes.push(...docsRoutes(deps, () => routes));
  return routes;
}

/** Builds the API without listening: main.ts, the dev launcher and tests all use this. */
export function createApp(deps: AppDeps): Koa<AppState> {
  const app = new Koa<AppState>({ proxy: false });
  app.silent = true; // errors are logged by problemResponses with the request id
  app.use(traceRequests()); // outermost: the request's log lines carry its trace_id
  app.use(requestContext(deps.log));
  app.use(problemResponses());
  app.use(consoleMiddleware(deps.config));

  const router = new Router<AppState>();
  mountRoutes(router, deps, apiRoutes(deps));
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: true }));
  return app;
}
