import Router from '@koa/router';
import { findAgent, findRun } from '../../db/queries.js';
import { notFound } from '../../errors.js';
import { startRun } from '../../services/runs.js';
import type { AppDeps, AppState } from '../context.js';
import { authOf, canSeeAgent, requireApiKey } from '../middleware/auth.js';
import { resourceId, validated } from '../validate.js';
import { presentRun, runLinks } from './presenter.js';
import { CreateRunBody } from './schema.js';

export function runsRouter(deps: AppDeps): Router<AppState> {
  const router = new Router<AppState>();
  const clock = deps.clock ?? (() => new Date());

  router.post(
    '/v1/agents/:id/runs',
    requireApiKey(deps.db, 'runs:write', clock),
    validated({ body: CreateRunBody }, async (ctx, { body }) => {
      const auth = authOf(ctx);
      const agentId = resourceId(ctx.params.id, 'Agent');
      const agent = canSeeAgent(auth, agentId) ? await findAgent(deps.db, auth.orgId, agentId) : undefined;
      if (!agent) throw notFound('Agent');
      const run = await startRun(
        { db: deps.db, temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE, log: ctx.state.log },
        { agent, message: body.message, source: 'api', metadata: body.metadata },
      );
      const links = runLinks(deps.config, run);
      ctx.status = 202;
      ctx.set('Location', links.self);
      ctx.body = { run_id: run.id, status: run.status, status_url: links.self };
    }),
  );

  router.get('/v1/runs/:id', requireApiKey(deps.db, 'runs:read', clock), async (ctx) => {
    const auth = authOf(ctx);
    const run = await findRun(deps.db, auth.orgId, resourceId(ctx.params.id, 'Run'));
    if (!run || !canSeeAgent(auth, run.agent_id)) throw notFound('Run');
    ctx.body = presentRun(deps.config, run);
  });

  return router;
}
