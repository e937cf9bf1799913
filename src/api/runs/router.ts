import { z } from 'zod';
import { isLiveRun } from '../../domain/runStatus.js';
import { findConversationOfAgent } from '../../db/conversations.js';
import { callbackDeliveriesOf, callbackDeliveriesOfRun, findCallbackDelivery, nextAttemptNumber } from '../../db/deliveries.js';
import { lastRunEventSequence } from '../../db/events.js';
import { emptyPage } from '../../db/pagination.js';
import { findRun, listRuns } from '../../db/runs.js';
import { findTaskOfAgent } from '../../db/tasks.js';
import type { Run } from '../../db/schema.js';
import { AppError, invalid, notFound } from '../../errors.js';
import { startRun, startRunWorkflow } from '../../services/runs.js';
import { cancelRun, engineUnavailable, isEngineUnavailable, retryRunCallback } from '../../temporal/gateway.js';
import type { AppContext, AppDeps } from '../context.js';
import { checkOutboundTarget } from '../outboundTarget.js';
import { authOf } from '../middleware/auth.js';
import { agentInScope, canSeeAgent } from '../policies.js';
import { route, type RouteSpec } from '../route.js';
import { Uuid, pageRequest, paginated } from '../schemas.js';
import { resourceId } from '../validate.js';
import { randomBytes } from 'node:crypto';
import { insertStreamToken } from '../../db/streams.js';
import { hashSecret } from '../../domain/apiKeys.js';
import { presentDeliveries } from '../deliveries/presenter.js';
import { DeliverySchema } from '../endpoints/schema.js';
import { presentAccepted, presentCallback, presentRun, runLinks } from './presenter.js';
import { CreateRunBody, ListRunsQuery, MAX_RUN_DELAY_SECONDS, RunAcceptedSchema, RunEventsQuery, RunSchema, StreamTokenSchema } from './schema.js';
import { RunStreamHub } from './stream.js';

/** A delayed run's start (null: now); a run_at already past starts at once. */
function delayedStart(body: { run_at?: string; delay_seconds?: number }, now: Date): Date | null {
  const at = body.run_at !== undefined ? new Date(body.run_at) : body.delay_seconds !== undefined ? new Date(now.getTime() + body.delay_seconds * 1000) : null;
  if (!at || at.getTime() <= now.getTime()) return null;
  if (at.getTime() - now.getTime() > MAX_RUN_DELAY_SECONDS * 1000) throw invalid({ run_at: 'must be at most a year ahead' });
  return at;
}

/** Statuses of a run that has not ended. */

export async function runInScope(deps: AppDeps, ctx: AppContext) {
  const auth = authOf(ctx);
  const run = await findRun(deps.db, auth.orgId, resourceId(ctx.params.id, 'Run'));
  if (!run || !canSeeAgent(auth, run.agent_id)) throw notFound('Run');
  return run;
}

/** Runs as the API shows them, each with its callback's delivery state (one query per page). */
async function presentRuns(deps: AppDeps, runs: Run[]) {
  const callbacks = await callbackDeliveriesOf(deps.db, runs.filter((r) => r.callback_url).map((r) => r.id));
  return runs.map((run) => {
    const found = callbacks.get(run.id);
    return presentRun(deps.config, run, presentCallback(run, found?.delivery, found?.last));
  });
}

export function runRoutes(deps: AppDeps): RouteSpec[] {
  const tag = 'Runs';
  const streams = new RunStreamHub(deps);
  return [
    route({
      method: 'post',
      path: '/v1/agents/:id/runs',
      operationId: 'createRun',
      summary: 'Start an agent run',
      description:
        'Answers 202 at once; poll `status_url`, follow `events_url` (SSE) or pass a `callback_url`. ' +
        'Send an `Idempotency-Key` header to make retries safe: the same key and body return the same run for 24 hours; after that the key starts a new run. ' +
        'With `run_at` or `delay_seconds` the run is `scheduled`: it holds its credits and is started by the engine at that time ' +
        '(cancel it meanwhile with `POST /v1/runs/{id}/cancel`: no charge).',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:write' },
      body: CreateRunBody,
      errors: [402, 503],
      responses: {
        202: { description: 'Accepted (or replayed for a repeated Idempotency-Key)', schema: RunAcceptedSchema, headers: { Location: 'The status URL' } },
      },
      async handler(ctx, { body }) {
        const auth = authOf(ctx);
        const agent = await agentInScope(deps, ctx, ctx.params.id);
        const idempotencyKey = ctx.get('idempotency-key') || null;
        if (idempotencyKey !== null && !/^[\x21-\x7e]{1,255}$/.test(idempotencyKey)) {
          throw invalid({ 'Idempotency-Key': 'must be 1–255 visible ASCII characters' });
        }
        if (body.callback_url) {
          if (!agent.allow_callback_urls) throw invalid({ callback_url: 'callbacks are not enabled for this agent (allow_callback_urls)' });
          checkOutboundTarget(deps, body.callback_url, 'callback_url');
        }
        if (body.task_definition_id) {
          const task = await findTaskOfAgent(deps.db, agent.id, body.task_definition_id);
          if (!task) throw invalid({ task_definition_id: 'no such task definition for this agent' });
        }
        if (body.conversation_id) {
          const conversation = await findConversationOfAgent(deps.db, { id: body.conversation_id, orgId: auth.orgId, agentId: agent.id });
          if (!conversation) throw invalid({ conversation_id: 'no such conversation for this agent' });
        }
        const runAt = delayedStart(body, deps.clock());
        const { run } = await startRun(
          { db: deps.db, temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE, log: ctx.state.log, clock: deps.clock },
          {
            agent,
            message: body.message,
            source: 'api',
            subject: body.subject ?? `Web trigger (${auth.keyName})`,
            context: body.context,
            metadata: body.metadata,
            callbackUrl: body.callback_url,
            taskDefinitionId: body.task_definition_id,
            conversationId: body.conversation_id,
            idempotencyKey,
            requestFingerprint: body,
            runAt,
          },
        );
        const accepted = presentAccepted(deps.config, run);
        ctx.status = 202;
        ctx.set('Location', accepted.status_url);
        ctx.body = accepted;
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
          ctx.body = { data: [], pagination: emptyPage(pageRequest(query)) };
          return;
        }
        const { rows, pagination } = await listRuns(
          deps.db,
          auth.orgId,
          {
            agentId: auth.agentId ?? query.agent_id,
            status: query.status,
            createdAfter: query.created_after ? new Date(query.created_after) : undefined,
            createdBefore: query.created_before ? new Date(query.created_before) : undefined,
          },
          pageRequest(query),
        );
        ctx.body = { data: await presentRuns(deps, rows), pagination };
      },
    }),
    route({
      method: 'get',
      path: '/v1/runs/:id',
      operationId: 'getRun',
      summary: 'Get a run\'s status and result',
      description: 'With `callback`: the delivery state of its callback (or outgoing_url), null without one.',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:read' },
      responses: { 200: { description: 'The run', schema: RunSchema } },
      async handler(ctx) {
        ctx.body = (await presentRuns(deps, [await runInScope(deps, ctx)]))[0];
      },
    }),
    route({
      method: 'get',
      path: '/v1/runs/:id/deliveries',
      operationId: 'listRunDeliveries',
      summary: 'The run\'s callback delivery with every attempt',
      description: 'Each attempt: status code, latency, response excerpt and error. Empty until the run ends and calls back.',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:read' },
      responses: { 200: { description: 'The callback delivery (at most one)', schema: z.object({ data: z.array(DeliverySchema) }) } },
      async handler(ctx) {
        const run = await runInScope(deps, ctx);
        const deliveries = await callbackDeliveriesOfRun(deps.db, run.id);
        ctx.body = { data: await presentDeliveries(deps.db, deliveries) };
      },
    }),
    route({
      method: 'post',
      path: '/v1/runs/:id/callback/retry',
      operationId: 'retryRunCallback',
      summary: 'Send a finished run\'s callback again now (same webhook-id)',
      description: 'One attempt, signed with the current callback secrets; it appears in `GET /v1/runs/{id}/deliveries`. 409 while the run is still processing or when it has no callback.',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:write' },
      errors: [409, 503],
      responses: { 202: { description: 'Sending; poll the run\'s callback', schema: z.object({ run_id: Uuid, workflow_id: z.string() }) } },
      async handler(ctx) {
        const run = await runInScope(deps, ctx);
        if (!run.callback_url) throw new AppError(409, 'CONFLICT', 'The run has no callback_url');
        if (isLiveRun(run.status)) throw new AppError(409, 'CONFLICT', `The run is still ${run.status}: its callback is sent when it ends`);
        const callback = await findCallbackDelivery(deps.db, run.id);
        const attempt = callback ? await nextAttemptNumber(deps.db, callback.id) : 1;
        const workflowId = await retryRunCallback({ temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE }, run.id, attempt);
        ctx.status = 202;
        ctx.body = { run_id: run.id, workflow_id: workflowId };
      },
    }),
    route({
      method: 'post',
      path: '/v1/runs/:id/cancel',
      operationId: 'cancelRun',
      summary: 'Cancel a run',
      description:
        'Asks the run to stop; it ends as `cancelled` (recorded, announced and called back; its credit hold released, nothing charged). ' +
        'A `scheduled` (delayed) run is cancelled before it starts; a `queued` run leaves the queue uncharged without taking or freeing a slot. A finished run answers 409.',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:write' },
      errors: [409, 503],
      responses: { 202: { description: 'Cancellation requested; poll the run for its final status', schema: RunSchema } },
      async handler(ctx) {
        const run = await runInScope(deps, ctx);
        if (!isLiveRun(run.status)) throw new AppError(409, 'CONFLICT', `The run already ended as ${run.status}`);
        const engine = { temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE };
        try {
          // Accepted by an API that died before starting its workflow: start it now, so the
          // cancel ends it (recorded, hold released) instead of failing until the reconciler runs.
          // A run due now is started told it is cancelled, so the agent never runs (its workflow
          // would otherwise begin at once, before a cancel sent after the start); a queued or
          // delayed one waits first, and the cancel reaches it there. Started by someone else
          // meanwhile: that workflow is cancelled.
          let cancelled = await cancelRun(engine, run.id);
          if (cancelled === 'not_found' && !run.started_at) {
            const dueNow = run.status === 'processing';
            const startedHere = await startRunWorkflow({ db: deps.db, ...engine }, run, { cancelRequested: dueNow });
            cancelled = startedHere && dueNow ? 'requested' : await cancelRun(engine, run.id);
          }
          // No workflow (it closed meanwhile, or is gone): answered below from the stored run.
          if (cancelled === 'not_found') throw engineUnavailable();
        } catch (err) {
          if (!isEngineUnavailable(err)) throw err;
          ctx.state.log.warn({ err: err.cause ?? err, run_id: run.id }, 'cancel request failed');
          const current = await findRun(deps.db, run.org_id, run.id);
          if (current && !isLiveRun(current.status)) throw new AppError(409, 'CONFLICT', `The run already ended as ${current.status}`);
          throw err;
        }
        ctx.status = 202;
        ctx.body = presentRun(deps.config, run);
      },
    }),
    route({
      method: 'get',
      path: '/v1/runs/:id/events',
      operationId: 'streamRunEvents',
      summary: 'Live event stream of a run (Server-Sent Events)',
      description:
        'One `id: <sequence>` + `data: {event_type, sequence, payload, created_at}` frame per run event (no `event:` field, so ' +
        '`EventSource.onmessage` receives them all), `: heartbeat` comments while open; ends after the terminal event. Resume with the ' +
        '`Last-Event-ID` header or `?after_sequence=N`. Browsers, whose EventSource cannot send headers, pass `?stream_token=` from ' +
        '`POST /v1/runs/{id}/stream-token`. Open streams are capped per API key and per run (429); a revoked key\'s streams end within a heartbeat.',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:read', streamToken: true },
      query: RunEventsQuery,
      errors: [429],
      responses: {
        200: { description: 'text/event-stream', contentType: 'text/event-stream' },
        204: { description: 'The run has ended and the client has seen its last event: EventSource stops reconnecting' },
      },
      async handler(ctx, { query }) {
        const run = await runInScope(deps, ctx);
        const lastEventId = Number.parseInt(ctx.get('last-event-id'), 10);
        const after = Number.isFinite(lastEventId) && lastEventId >= 0 ? lastEventId : (query.after_sequence ?? 0);
        if (!isLiveRun(run.status) && after >= (await lastRunEventSequence(deps.db, run.id))) {
          // A browser reconnects after the stream ends; 204 is what tells EventSource to stop.
          ctx.status = 204;
          return;
        }
        await streams.stream(ctx, { runId: run.id, keyId: authOf(ctx).keyId, after });
      },
    }),
    route({
      method: 'post',
      path: '/v1/runs/:id/stream-token',
      operationId: 'createRunStreamToken',
      summary: 'Mint a short-lived token for a browser to open the run\'s event stream',
      description:
        'Browsers\' `EventSource` cannot send an Authorization header, and API keys never belong in URLs. This answers an `events_url` ' +
        'carrying a token that opens this run\'s stream only, for SSE_STREAM_TOKEN_TTL_SECONDS (reconnects within that time reuse it), ' +
        'and stops working, with the streams it opened, when the key that minted it is revoked.',
      tag,
      auth: { kind: 'apiKey', scope: 'runs:read' },
      responses: { 201: { description: 'The token and a ready events_url', schema: StreamTokenSchema } },
      async handler(ctx) {
        const run = await runInScope(deps, ctx);
        // A stream token lives and dies with the API key that minted it; a portal session (the
        // console) reads the stream with its own Authorization header instead.
        if (authOf(ctx).kind !== 'api_key') {
          throw new AppError(403, 'FORBIDDEN', 'Stream tokens are minted with an API key; a portal session reads the stream with its Authorization header');
        }
        const token = `awst_${randomBytes(32).toString('base64url')}`;
        const now = deps.clock();
        const expiresAt = new Date(now.getTime() + deps.config.SSE_STREAM_TOKEN_TTL_SECONDS * 1000);
        await insertStreamToken(deps.db, { hash: hashSecret(token), runId: run.id, apiKeyId: authOf(ctx).keyId, expiresAt });
        ctx.status = 201;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { token, events_url: `${runLinks(deps.config, run).events}?stream_token=${token}`, expires_at: expiresAt.toISOString() };
      },
    }),
  ];
}
