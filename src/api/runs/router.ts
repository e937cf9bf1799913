import { findRun, listRuns } from '../../db/queries.js';
import { notFound } from '../../errors.js';
import { startRun } from '../../services/runs.js';
import { agentInScope } from '../agents/router.js';
import type { AppDeps } from '../context.js';
import { authOf, canSeeAgent } from '../middleware/auth.js';
import { route, type RouteSpec } from '../route.js';
import { paginated, pagination } from '../schemas.js';
import { resourceId } from '../validate.js';
import { presentRun, runLinks } from './presenter.js';
import { CreateRunBody, ListRunsQuery, RunAcceptedSchema, RunSchema } from './schema.js';

export function runRoutes(deps: AppDeps): RouteSpec[] {
  const tag = 'Runs';
  return [
    route({
      method: 'post',
      path: '/v1/agents/:id/runs',
      operationId: 'createRun',
      summary: 'Start an agent run',
      description: 'Answers 202 at once; poll `status_url` for the result.',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:write' },
      body: CreateRunBody,
      errors: [503],
      responses: { 202: { description: 'Accepted', schema: RunAcceptedSchema, headers: { Location: 'The status URL' } } },
      async handler(ctx, { body }) {
        const agent = await agentInScope(deps, ctx, ctx.params.id);
        const run = await startRun(
          { db: deps.db, temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE, log: ctx.state.log },
          { agent, message: body.message, source: 'api', metadata: body.metadata },
        );
        const links = runLinks(deps.config, run);
        ctx.status = 202;
        ctx.set('Location', links.self);
        ctx.body = { run_id: run.id, status: 'processing', status_url: links.self };
      },
    }),
    route({
      method: 'get',
      path: '/v1/runs',
      operationId: 'listRuns',
      summary: 'List runs, newest first',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:read' },
      query: ListRunsQuery,
      responses: { 200: { description: 'A page of runs', schema: paginated(RunSchema) } },
      async handler(ctx, { query }) {
        const auth = authOf(ctx);
        if (query.agent_id && !canSeeAgent(auth, query.agent_id)) {
          ctx.body = { data: [], pagination: pagination(query.page, query.limit, 0) };
          return;
        }
        const { rows, total } = await listRuns(
          deps.db,
          auth.orgId,
          {
            agentId: auth.agentId ?? query.agent_id,
            status: query.status,
            createdAfter: query.created_after ? new Date(query.created_after) : undefined,
            createdBefore: query.created_before ? new Date(query.created_before) : undefined,
          },
          query,
        );
        ctx.body = { data: rows.map((r) => presentRun(deps.config, r)), pagination: pagination(query.page, query.limit, total) };
      },
    }),
    route({
      method: 'get',
      path: '/v1/runs/:id',
      operationId: 'getRun',
      summary: 'Get a run\'s status and result',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:read' },
      responses: { 200: { description: 'The run', schema: RunSchema } },
      async handler(ctx) {
        const auth = authOf(ctx);
        const run = await findRun(deps.db, auth.orgId, resourceId(ctx.params.id, 'Run'));
        if (!run || !canSeeAgent(auth, run.agent_id)) throw notFound('Run');
        ctx.body = presentRun(deps.config, run);
      },
    }),
  ];
}
