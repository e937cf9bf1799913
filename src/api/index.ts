import Koa from 'koa';
import Router from '@koa/router';
import { agentsRouter } from './agents/router.js';
import type { AppDeps, AppState } from './context.js';
import { healthRouter } from './health/router.js';
import { jsonBody } from './middleware/body.js';
import { problemResponses } from './middleware/errors.js';
import { requestContext } from './middleware/requestId.js';
import { runsRouter } from './runs/router.js';

export type { AppDeps } from './context.js';

/** Builds the API without listening: main.ts, the dev launcher and tests all use this. */
export function createApp(deps: AppDeps): Koa<AppState> {
  const app = new Koa<AppState>({ proxy: false });
  app.silent = true; // errors are logged by problemResponses with the request id
  app.use(requestContext(deps.log));
  app.use(problemResponses());
  app.use(jsonBody(deps.config.BODY_LIMIT_BYTES));

  const root = new Router<AppState>();
  for (const router of [healthRouter(deps), agentsRouter(deps), runsRouter(deps)]) {
    root.use(router.routes());
  }
  app.use(root.routes());
  app.use(root.allowedMethods({ throw: true }));
  return app;
}
