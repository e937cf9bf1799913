import { inTransaction } from '../../db/executor.js';
import { randomUUID } from 'node:crypto';
import { publicUrl } from '../../config.js';
import { agentHasTask, deleteSchedule, findSchedule, insertSchedule, listSchedules, updateSchedule } from '../../db/schedules.js';
import type { Agent, Schedule, ScheduleUpdate } from '../../db/schema.js';
import { maskUrlCredentials } from '../../domain/urlCredentials.js';
import { AppError, notFound, serviceUnavailable } from '../../errors.js';
import {
  createTemporalSchedule,
  deleteTemporalSchedule,
  nextFiringsOf,
  pauseTemporalSchedule,
  temporalScheduleId,
  triggerTemporalSchedule,
  updateTemporalSchedule,
  type ScheduleGatewayDeps,
  ScheduleNotFoundError,
} from '../../temporal/schedules.js';
import { agentInScope, canSeeAgent } from '../policies.js';
import type { AppContext, AppDeps } from '../context.js';
import { authOf } from '../middleware/auth.js';
import { checkOutboundTarget } from '../outboundTarget.js';
import { route, type RouteSpec } from '../route.js';
import { pageRequest, paginated } from '../schemas.js';
import { resourceId } from '../validate.js';
import { CreateScheduleBody, ListSchedulesQuery, ScheduleSchema, ScheduleTriggeredSchema, UpdateScheduleBody } from './schema.js';

/** gRPC status INVALID_ARGUMENT: Temporal refusing what it was asked to store. */
const INVALID_ARGUMENT = 3;
const invalid = (field: string, message: string) => new AppError(422, 'VALIDATION_FAILED', 'The request is invalid', { [field]: message });
const iso = (d: Date | null) => (d ? d.toISOString() : null);

function presentSchedule(deps: AppDeps, schedule: Schedule, nextRunAt: Date | null = null) {
  const ui = deps.config.TEMPORAL_UI_URL;
  return {
    id: schedule.id,
    agent_id: schedule.agent_id,
    name: schedule.name,
    cron: schedule.cron,
    interval_seconds: schedule.interval_seconds,
    timezone: schedule.timezone,
    overlap_policy: schedule.overlap_policy,
    end_at: iso(schedule.end_at),
    paused: schedule.paused,
    message: schedule.message,
    subject: schedule.subject,
    context: schedule.context,
    task_definition_id: schedule.task_definition_id,
    callback_url: maskUrlCredentials(schedule.callback_url),
    metadata: schedule.metadata,
    next_run_at: iso(nextRunAt),
    created_at: schedule.created_at.toISOString(),
    updated_at: schedule.updated_at.toISOString(),
    links: {
      runs: `${publicUrl(deps.config)}/v1/runs?agent_id=${schedule.agent_id}`,
      temporal_ui: ui
        ? `${ui.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(deps.config.TEMPORAL_NAMESPACE)}/schedules/${temporalScheduleId(schedule.id)}`
        : null,
    },
  };
}

async function scheduleInScope(deps: AppDeps, ctx: AppContext) {
  const auth = authOf(ctx);
  const schedule = await findSchedule(deps.db, auth.orgId, resourceId(ctx.params.id, 'Schedule'));
  if (!schedule || !canSeeAgent(auth, schedule.agent_id)) throw notFound('Schedule');
  return schedule;
}

/** The checks POST /v1/agents/{id}/runs makes on the run's fields, made once when the schedule is written. */
async function checkRunFields(deps: AppDeps, agent: Agent, body: { callback_url?: string | null; task_definition_id?: string | null }) {
  if (body.callback_url) {
    if (!agent.allow_callback_urls) throw invalid('callback_url', 'callbacks are not enabled for this agent (allow_callback_urls)');
    checkOutboundTarget(deps, body.callback_url, 'callback_url');
  }
  if (body.task_definition_id && !(await agentHasTask(deps.db, agent.id, body.task_definition_id))) {
    throw invalid('task_definition_id', 'no such task definition for this agent');
  }
}

/**
 * Runs a Temporal Schedule call; Temporal refusing the spec (a cron expression it cannot read)
 * is the caller's 422, an unreachable engine a 503. A gone Temporal Schedule is a 404.
 */
async function engine<T>(ctx: AppContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (err instanceof ScheduleNotFoundError) throw notFound('Schedule');
    // The SDK turns the server's "Invalid schedule spec" into a TypeError carrying the reason.
    const code = (err as { cause?: { code?: number } }).cause?.code;
    if (err instanceof TypeError || code === INVALID_ARGUMENT) {
      const message = (err as Error).message.replace(/^\d+ INVALID_ARGUMENT: /, '');
      throw new AppError(422, 'VALIDATION_FAILED', 'The request is invalid', { cron: `the workflow engine refused the schedule: ${message}`.slice(0, 300) });
    }
    ctx.state.log.error({ err }, 'a Temporal Schedule call failed');
    throw serviceUnavailable('The workflow engine');
  }
}

export function scheduleRoutes(deps: AppDeps): RouteSpec[] {
  const clock = deps.clock ?? (() => new Date());
  const gateway: ScheduleGatewayDeps = { temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE };
  const tag = 'Schedules';
  return [
    route({
      method: 'post',
      path: '/v1/agents/:id/schedules',
      operationId: 'createSchedule',
      summary: 'Schedule recurring runs of an agent',
      description:
        'A cron expression (in `timezone`) or an interval, an overlap policy and an optional end. Each firing is an ordinary run ' +
        '(`source: schedule`, `schedule_id`): credits held and charged, events, callback, listed with the agent\'s runs. A firing the ' +
        'wallet cannot cover is recorded as a `failed` run with the reason. Backed by a Temporal Schedule (`schedule-<id>`, search ' +
        'attributes OrgId and AgentId) visible on the Web UI\'s Schedules page.',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:write' },
      body: CreateScheduleBody,
      errors: [503],
      responses: { 201: { description: 'The schedule', schema: ScheduleSchema } },
      async handler(ctx, { body }) {
        const agent = await agentInScope(deps, ctx, ctx.params.id);
        await checkRunFields(deps, agent, body);
        const now = clock();
        if (body.end_at && new Date(body.end_at) <= now) throw invalid('end_at', 'must be in the future');
        // The row commits only once Temporal holds the Schedule: no schedule without its engine side.
        const schedule = await inTransaction(deps.db, async (trx) => {
          const created = await insertSchedule(trx, {
            id: randomUUID(),
            org_id: agent.org_id,
            agent_id: agent.id,
            name: body.name ?? (body.cron ? `cron ${body.cron}` : `every ${body.interval_seconds}s`),
            cron: body.cron ?? null,
            interval_seconds: body.interval_seconds ?? null,
            timezone: body.timezone,
            message: body.message,
            subject: body.subject ?? null,
            context: JSON.stringify(body.context ?? {}),
            metadata: JSON.stringify(body.metadata ?? {}),
            task_definition_id: body.task_definition_id ?? null,
            callback_url: body.callback_url ?? null,
            overlap_policy: body.overlap_policy,
            end_at: body.end_at ? new Date(body.end_at) : null,
            paused: body.paused,
            updated_at: now,
          });
          await engine(ctx, () => createTemporalSchedule(gateway, created, agent.name));
          return created;
        });
        ctx.status = 201;
        ctx.set('Location', `${publicUrl(deps.config)}/v1/schedules/${schedule.id}`);
        ctx.body = presentSchedule(deps, schedule);
      },
    }),
    route({
      method: 'get',
      path: '/v1/agents/:id/schedules',
      operationId: 'listSchedules',
      summary: 'List an agent\'s schedules, newest first',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:read' },
      query: ListSchedulesQuery,
      responses: { 200: { description: 'A page of schedules', schema: paginated(ScheduleSchema) } },
      async handler(ctx, { query }) {
        const agent = await agentInScope(deps, ctx, ctx.params.id);
        const { rows, pagination } = await listSchedules(deps.db, agent.org_id, { agentId: agent.id }, pageRequest(query));
        ctx.body = { data: rows.map((s) => presentSchedule(deps, s)), pagination };
      },
    }),
    route({
      method: 'get',
      path: '/v1/schedules/:id',
      operationId: 'getSchedule',
      summary: 'Get a schedule, with its next firing',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:read' },
      responses: { 200: { description: 'The schedule', schema: ScheduleSchema } },
      async handler(ctx) {
        const schedule = await scheduleInScope(deps, ctx);
        // Temporal keeps computing times while paused; none of them will fire.
        const next = schedule.paused ? null : await nextFiringsOf(gateway, schedule.id);
        ctx.body = presentSchedule(deps, schedule, next?.[0] ?? null);
      },
    }),
    route({
      method: 'patch',
      path: '/v1/schedules/:id',
      operationId: 'updateSchedule',
      summary: 'Change a schedule',
      description: 'Changes apply to the next firings; a run already started is not affected. `cron` replaces `interval_seconds` and the reverse.',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:write' },
      body: UpdateScheduleBody,
      errors: [503],
      responses: { 200: { description: 'The schedule', schema: ScheduleSchema } },
      async handler(ctx, { body }) {
        const found = await scheduleInScope(deps, ctx);
        const agent = await agentInScope(deps, ctx, found.agent_id);
        await checkRunFields(deps, agent, body);
        const now = clock();
        if (body.end_at && new Date(body.end_at) <= now) throw invalid('end_at', 'must be in the future');
        const { context, metadata, end_at, cron, interval_seconds, ...plain } = body;
        const patch: ScheduleUpdate = {
          ...plain,
          ...(cron !== undefined ? { cron, interval_seconds: null } : {}),
          ...(interval_seconds !== undefined ? { interval_seconds, cron: null } : {}),
          ...(context !== undefined ? { context: JSON.stringify(context) } : {}),
          ...(metadata !== undefined ? { metadata: JSON.stringify(metadata) } : {}),
          ...(end_at !== undefined ? { end_at: end_at === null ? null : new Date(end_at) } : {}),
          updated_at: now,
        };
        const schedule = await inTransaction(deps.db, async (trx) => {
          await findSchedule(trx, found.org_id, found.id, { forUpdate: true });
          const updated = await updateSchedule(trx, found.id, patch);
          await engine(ctx, () => updateTemporalSchedule(gateway, updated, agent.name));
          return updated;
        });
        ctx.body = presentSchedule(deps, schedule);
      },
    }),
    route({
      method: 'delete',
      path: '/v1/schedules/:id',
      operationId: 'deleteSchedule',
      summary: 'Delete a schedule',
      description: 'Removes the Temporal Schedule: no further firings. Runs it started keep running and keep their `schedule_id`.',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:write' },
      errors: [503],
      responses: { 204: { description: 'Deleted' } },
      async handler(ctx) {
        const schedule = await scheduleInScope(deps, ctx);
        await inTransaction(deps.db, async (trx) => {
          await deleteSchedule(trx, schedule.id);
          await engine(ctx, () => deleteTemporalSchedule(gateway, schedule.id));
        });
        ctx.status = 204;
      },
    }),
    ...(['pause', 'resume'] as const).map((action) =>
      route({
        method: 'post',
        path: `/v1/schedules/:id/${action}`,
        operationId: `${action}Schedule`,
        summary: action === 'pause' ? 'Pause a schedule (no firings until resumed)' : 'Resume a paused schedule',
        description: action === 'pause' ? 'A run already started goes on. Idempotent.' : 'Firings missed while paused are not made up. Idempotent.',
        tag,
        auth: { kind: 'apiKey', scope: 'runs:write' },
        errors: [503],
        responses: { 200: { description: 'The schedule', schema: ScheduleSchema } },
        async handler(ctx) {
          const found = await scheduleInScope(deps, ctx);
          const paused = action === 'pause';
          const schedule = await inTransaction(deps.db, async (trx) => {
            await findSchedule(trx, found.org_id, found.id, { forUpdate: true });
            const updated = await updateSchedule(trx, found.id, { paused, updated_at: clock() });
            await engine(ctx, () => pauseTemporalSchedule(gateway, found.id, paused));
            return updated;
          });
          ctx.body = presentSchedule(deps, schedule);
        },
      }),
    ),
    route({
      method: 'post',
      path: '/v1/schedules/:id/trigger',
      operationId: 'triggerSchedule',
      summary: 'Fire a schedule now',
      description:
        'One firing now, also when paused, under the schedule\'s overlap policy (a `skip` schedule whose previous run is still going ' +
        'takes none). The run appears in the agent\'s runs with `source: schedule`.',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:write' },
      errors: [503],
      responses: { 202: { description: 'Firing requested', schema: ScheduleTriggeredSchema } },
      async handler(ctx) {
        const schedule = await scheduleInScope(deps, ctx);
        await engine(ctx, () => triggerTemporalSchedule(gateway, schedule));
        ctx.status = 202;
        ctx.body = { schedule_id: schedule.id, triggered_at: clock().toISOString() };
      },
    }),
  ];
}
