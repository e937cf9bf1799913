import Router from '@koa/router';
import type { AppDeps, AppState } from '../context.js';

/** Public ops routes: liveness says the process answers; readiness says its dependencies do. */
export function healthRouter(deps: AppDeps): Router<AppState> {
  const router = new Router<AppState>();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const [database, temporal] = await Promise.all([deps.readiness.database(), deps.readiness.temporal()]);
    const ready = database && temporal;
    ctx.status = ready ? 200 : 503;
    if (!ready) ctx.set('Retry-After', '5');
    ctx.body = {
      status: ready ? 'ready' : 'unavailable',
      checks: { database: database ? 'ok' : 'unreachable', temporal: temporal ? 'ok' : 'unreachable' },
    };
  });
  return router;
}
