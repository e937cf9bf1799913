import { findTask, insertTask, listTasks, softDeleteTask, updateTask } from '../../db/tasks.js';
import { randomUUID } from 'node:crypto';
import type { TaskDefinition } from '../../db/schema.js';
import { notFound } from '../../errors.js';
import type { AppContext, AppDeps } from '../context.js';
import { authOf } from '../middleware/auth.js';
import { agentInScope, canSeeAgent } from '../policies.js';
import { route, type RouteSpec } from '../route.js';
import { pageRequest, paginated } from '../schemas.js';
import { resourceId } from '../validate.js';
import { CreateTaskBody, ListTasksQuery, TaskSchema, UpdateTaskBody } from './schema.js';

function presentTask(task: TaskDefinition) {
  return {
    id: task.id,
    agent_id: task.agent_id,
    name: task.name,
    instructions: task.instructions,
    output_type: task.output_type,
    tools: task.tools,
    created_at: task.created_at.toISOString(),
    updated_at: task.updated_at.toISOString(),
  };
}

async function taskInScope(deps: AppDeps, ctx: AppContext) {
  const auth = authOf(ctx);
  const task = await findTask(deps.db, auth.orgId, resourceId(ctx.params.id, 'Task definition'));
  if (!task || !canSeeAgent(auth, task.agent_id)) throw notFound('Task definition');
  return task;
}

export function taskRoutes(deps: AppDeps): RouteSpec[] {
  const clock = deps.clock;
  const tag = 'Task definitions';
  return [
    route({
      method: 'post',
      path: '/v1/agents/:id/tasks',
      operationId: 'createTask',
      summary: 'Create a task definition for an agent',
      description: 'Name it in a run trigger (`task_definition_id`) to run the agent with these instructions and output type.',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:write' },
      body: CreateTaskBody,
      responses: { 201: { description: 'The task definition', schema: TaskSchema } },
      async handler(ctx, { body }) {
        const agent = await agentInScope(deps, ctx, ctx.params.id);
        const task = await insertTask(deps.db, { id: randomUUID(), org_id: agent.org_id, agent_id: agent.id, ...body, updated_at: clock() });
        ctx.status = 201;
        ctx.body = presentTask(task);
      },
    }),
    route({
      method: 'get',
      path: '/v1/agents/:id/tasks',
      operationId: 'listTasks',
      summary: 'List an agent\'s task definitions, newest first',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:read' },
      query: ListTasksQuery,
      responses: { 200: { description: 'A page of task definitions', schema: paginated(TaskSchema) } },
      async handler(ctx, { query }) {
        const agent = await agentInScope(deps, ctx, ctx.params.id);
        const { rows, pagination } = await listTasks(deps.db, agent.id, pageRequest(query));
        ctx.body = { data: rows.map(presentTask), pagination };
      },
    }),
    route({
      method: 'get',
      path: '/v1/tasks/:id',
      operationId: 'getTask',
      summary: 'Get a task definition',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:read' },
      responses: { 200: { description: 'The task definition', schema: TaskSchema } },
      async handler(ctx) {
        ctx.body = presentTask(await taskInScope(deps, ctx));
      },
    }),
    route({
      method: 'patch',
      path: '/v1/tasks/:id',
      operationId: 'updateTask',
      summary: 'Update a task definition',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:write' },
      body: UpdateTaskBody,
      responses: { 200: { description: 'The updated task definition', schema: TaskSchema } },
      async handler(ctx, { body }) {
        const task = await taskInScope(deps, ctx);
        const updated = await updateTask(deps.db, task.id, { ...body, updated_at: clock() });
        ctx.body = presentTask(updated);
      },
    }),
    route({
      method: 'delete',
      path: '/v1/tasks/:id',
      operationId: 'deleteTask',
      summary: 'Delete a task definition',
      description: 'Runs that used it keep their history.',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:write' },
      responses: { 204: { description: 'Deleted' } },
      async handler(ctx) {
        const task = await taskInScope(deps, ctx);
        await softDeleteTask(deps.db, task.id, clock());
        ctx.status = 204;
      },
    }),
  ];
}
