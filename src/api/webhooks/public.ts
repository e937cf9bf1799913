import { runOutcomeUpdate, type RunOutcome } from '../../../workflows/definitions.js';
import { publicUrl } from '../../config.js';
import { findAgentById, findRunById } from '../../db/queries.js';
import { hitRateLimit } from '../../db/rateLimit.js';
import type { Run } from '../../db/schema.js';
import { hashSecret } from '../../domain/apiKeys.js';
import { AppError, notFound } from '../../errors.js';
import { rateLimited } from '../../metrics.js';
import { runWorkflowId, startRun } from '../../services/runs.js';
import type { AppContext, AppDeps } from '../context.js';
import { route, type RouteSpec } from '../route.js';
import { resourceId } from '../validate.js';
import { WebhookCallBody, WebhookPendingSchema, WebhookReplySchema, WebhookRunSchema } from './schema.js';

/**
 * Every way a token can be wrong (unknown, paused, deleted, regenerated, its agent deleted)
 * costs the same single indexed lookup and ends in the same 404, so the answer tells a
 * prober nothing about which it was.
 */
async function webhookByToken(deps: AppDeps, ctx: AppContext, token: string | undefined) {
  if (!token || !token.startsWith('whk_') || token.length > 200) throw notFound('Webhook');
  const webhook = await deps.db
    .selectFrom('inbound_webhooks')
    .innerJoin('agents', 'agents.id', 'inbound_webhooks.agent_id')
    .selectAll('inbound_webhooks')
    .where('inbound_webhooks.token_hash', '=', hashSecret(token))
    .where('inbound_webhooks.is_active', '=', true)
    .where('inbound_webhooks.deleted_at', 'is', null)
    .where('agents.deleted_at', 'is', null)
    .executeTakeFirst();
  if (!webhook) throw notFound('Webhook');
  ctx.state.orgId = webhook.org_id;
  return webhook;
}

function statusUrl(deps: AppDeps, token: string, runId: string) {
  return `${publicUrl(deps.config)}/api/webhook/${token}/runs/${runId}`;
}

/** Answers from a stored run: the reply, a problem naming the run, or "still working". */
function answer(deps: AppDeps, ctx: AppContext, token: string, run: Run, outcome?: RunOutcome) {
  const status = outcome?.status ?? run.status;
  const runId = { run_id: run.id };
  if (status === 'completed') {
    ctx.body = {
      response: outcome?.result ?? run.result ?? '',
      conversation_id: run.conversation_id,
      credits_used: outcome?.credits_used ?? run.credits_used,
      run_id: run.id,
    };
    return;
  }
  if (status === 'failed') throw new AppError(502, 'AGENT_FAILED', 'The agent could not answer this message', undefined, undefined, runId);
  if (status === 'timed_out') throw new AppError(504, 'AGENT_TIMED_OUT', 'The agent did not answer in time', undefined, undefined, runId);
  if (status === 'cancelled') throw new AppError(409, 'CONFLICT', 'The run was cancelled', undefined, undefined, runId);
  ctx.status = 202;
  ctx.body = { run_id: run.id, status: 'processing', status_url: statusUrl(deps, token, run.id), conversation_id: run.conversation_id };
}

export function publicWebhookRoutes(deps: AppDeps): RouteSpec[] {
  const tag = 'Inbound webhooks';
  return [
    route({
      method: 'post',
      path: '/api/webhook/:token',
      operationId: 'callWebhook',
      summary: 'Message an agent through its token URL and get the reply',
      description:
        'No other credentials: the token is the auth. Answers 200 with the reply when the agent finishes within SYNC_WAIT_SECONDS, ' +
        'otherwise 202 with a status_url to poll. The same `user_id` continues one conversation. Rate-limited per webhook ' +
        '(`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`; 429 with `Retry-After`). ' +
        'The body may be JSON or form fields (urlencoded or multipart, no file parts): `context[region]=APAC` or ' +
        '`context={"region":"APAC"}` for the nested `context` and `metadata`.',
      tag,
      auth: { kind: 'public' },
      body: WebhookCallBody,
      forms: { jsonFields: ['context', 'metadata'] },
      invalidStatus: 400,
      errors: [402, 404, 409, 429, 502, 503, 504],
      responses: {
        200: { description: 'The agent\'s reply', schema: WebhookReplySchema },
        202: { description: 'Still working: poll status_url', schema: WebhookPendingSchema },
      },
      async handler(ctx, { body }) {
        const token = ctx.params.token!;
        const webhook = await webhookByToken(deps, ctx, token);

        const limit = await hitRateLimit(deps.db, `webhook:${webhook.id}`, webhook.rate_limit_per_minute);
        ctx.set({ 'RateLimit-Limit': String(limit.limit), 'RateLimit-Remaining': String(limit.remaining), 'RateLimit-Reset': String(limit.resetSeconds) });
        if (!limit.allowed) {
          rateLimited.inc();
          throw new AppError(429, 'RATE_LIMITED', `At most ${limit.limit} calls per minute on this webhook`, undefined, {
            'Retry-After': String(limit.resetSeconds),
          });
        }
        const agent = await findAgentById(deps.db, webhook.agent_id);
        if (!agent) throw notFound('Webhook');

        // The same user on the same webhook continues their latest conversation.
        let conversationId = body.conversation_id ?? null;
        if (conversationId) {
          const own = await deps.db.selectFrom('conversations').select('id').where('id', '=', conversationId).where('agent_id', '=', agent.id).executeTakeFirst();
          if (!own) throw new AppError(400, 'VALIDATION_FAILED', 'The request is invalid', { conversation_id: 'no such conversation for this agent' });
        } else if (body.user_id) {
          const latest = await deps.db
            .selectFrom('conversations')
            .select('id')
            .where('inbound_webhook_id', '=', webhook.id)
            .where('external_user_id', '=', body.user_id)
            .orderBy('created_at', 'desc')
            .limit(1)
            .executeTakeFirst();
          conversationId = latest?.id ?? null;
        }

        const { run } = await startRun(
          { db: deps.db, temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE, log: ctx.state.log },
          {
            agent,
            message: body.message,
            source: 'webhook',
            subject: `Webhook (${webhook.name})`,
            context: body.context,
            metadata: body.metadata,
            callbackUrl: webhook.outgoing_url,
            conversationId,
            externalUserId: body.user_id ?? null,
            inboundWebhookId: webhook.id,
          },
        );
        await deps.db.updateTable('inbound_webhooks').set({ last_used_at: new Date() }).where('id', '=', webhook.id).execute();

        // Wait for the stored outcome through a workflow update (see runOutcomeUpdate for why
        // not the workflow result); past SYNC_WAIT_SECONDS the caller gets 202 and polls.
        let outcome: RunOutcome | undefined;
        try {
          outcome = await deps.temporal.withDeadline(Date.now() + deps.config.SYNC_WAIT_SECONDS * 1000, () =>
            deps.temporal.workflow.getHandle(runWorkflowId(run.id)).executeUpdate(runOutcomeUpdate),
          );
        } catch (err) {
          ctx.state.log.debug({ err, run_id: run.id }, 'no synchronous outcome; answering from the stored run');
        }
        // With an outcome in hand the answer needs no further read.
        answer(deps, ctx, token, outcome ? run : ((await findRunById(deps.db, run.id)) ?? run), outcome);
      },
    }),
    route({
      method: 'get',
      path: '/api/webhook/:token/runs/:runId',
      operationId: 'getWebhookRun',
      summary: 'Poll a run started through this token URL',
      tag,
      auth: { kind: 'public' },
      responses: { 200: { description: 'The run', schema: WebhookRunSchema } },
      async handler(ctx) {
        const webhook = await webhookByToken(deps, ctx, ctx.params.token);
        const run = await findRunById(deps.db, resourceId(ctx.params.runId, 'Run'));
        if (!run || run.inbound_webhook_id !== webhook.id) throw notFound('Run');
        ctx.body = {
          run_id: run.id,
          status: run.status,
          response: run.result,
          conversation_id: run.conversation_id,
          credits_used: run.credits_used,
          created_at: run.created_at.toISOString(),
          completed_at: run.completed_at?.toISOString() ?? null,
        };
      },
    }),
  ];
}
