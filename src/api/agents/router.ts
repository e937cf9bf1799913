import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import { findAgent, insertAgent } from '../../db/queries.js';
import { AppError, notFound } from '../../errors.js';
import type { AppDeps, AppState } from '../context.js';
import { authOf, canSeeAgent, requireApiKey } from '../middleware/auth.js';
import { resourceId, validated } from '../validate.js';
import { presentAgent } from './presenter.js';
import { CreateAgentBody } from './schema.js';

export function agentsRouter(deps: AppDeps): Router<AppState> {
  const router = new Router<AppState>();
  const clock = deps.clock ?? (() => new Date());

  router.post(
    '/v1/agents',
    requireApiKey(deps.db, 'agents:write', clock),
    validated({ body: CreateAgentBody }, async (ctx, { body }) => {
      const auth = authOf(ctx);
      if (auth.agentId) throw new AppError(403, 'FORBIDDEN', 'An agent-scoped API key cannot create agents');
      const agent = await insertAgent(deps.db, { id: randomUUID(), orgId: auth.orgId, ...body });
      ctx.status = 201;
      ctx.set('Location', `/v1/agents/${agent.id}`);
      ctx.body = presentAgent(agent);
    }),
  );

  router.get('/v1/agents/:id', requireApiKey(deps.db, 'agents:read', clock), async (ctx) => {
    const auth = authOf(ctx);
    const id = resourceId(ctx.params.id, 'Agent');
    const agent = canSeeAgent(auth, id) ? await findAgent(deps.db, auth.orgId, id) : undefined;
    if (!agent) throw notFound('Agent');
    ctx.body = presentAgent(agent);
  });

  return router;
}
