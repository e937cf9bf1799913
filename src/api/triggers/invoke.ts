import { findAgentById } from '../../db/agents.js';
import { findLiveTrigger, type Trigger } from '../../db/triggers.js';
import { prepareTriggerMessage } from '../../domain/triggers/message.js';
import { verifyTriggerRequest } from '../../domain/triggers/signatures.js';
import { AppError, notFound } from '../../errors.js';
import { startRun } from '../../services/runs.js';
import type { AppContext, AppDeps } from '../context.js';
import { route, type RouteSpec } from '../route.js';
import { admitCall, findByToken, found, markUsed, triggerTokens } from '../tokenUrls.js';
import { resourceId } from '../validate.js';
import { InvocationsSchema, InvokeBody, PayloadProblemSchema } from './schema.js';

const DELIVERY_ID = /^[\x21-\x7e]{1,200}$/;

/** Schema check, message, run: what both invoke routes do once the caller is authenticated. */
async function startTriggeredRun(deps: AppDeps, ctx: AppContext, trigger: Trigger, payload: unknown, deliveryId: string | null) {
  const { message, validationErrors } = await prepareTriggerMessage(trigger, payload, ctx.headers);
  if (validationErrors.length) {
    const detail = validationErrors[0]!.path === 'message_template' ? 'The message template rendered an empty message for this payload' : 'The payload does not match the trigger\'s input schema';
    throw new AppError(400, 'VALIDATION_FAILED', detail, undefined, undefined, { validationErrors });
  }
  const agent = await findAgentById(deps.db, trigger.agent_id);
  if (!agent || agent.deleted_at) throw notFound('Trigger');

  const { run, created } = await startRun(
    { db: deps.db, temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE, log: ctx.state.log, clock: deps.clock },
    {
      agent,
      message,
      source: 'trigger',
      subject: `Trigger (${trigger.name})`,
      metadata: { trigger_id: trigger.id, delivery_id: deliveryId },
      // The sender's delivery id makes a replay find the first run instead of starting another.
      idempotencyKey: deliveryId ? `trigger:${trigger.id}:${deliveryId}` : null,
      requestFingerprint: { trigger: trigger.id, delivery: deliveryId },
    },
  );
  if (!created) throw new AppError(409, 'CONFLICT', `Delivery ${deliveryId} was already received; no new run was started`);
  await markUsed(deps, triggerTokens, trigger);
  ctx.status = 202;
  ctx.body = { success: true, invocations: [{ conversation_id: run.conversation_id, invocation_id: run.id, run_as_user_id: null }] };
}

const invocationResponses = {
  202: { description: 'Accepted: one run started', schema: InvocationsSchema },
  400: {
    description: 'Malformed body, or a payload the input schema rejects (validationErrors)',
    schema: PayloadProblemSchema,
    contentType: 'application/problem+json',
  },
};

export function publicTriggerRoutes(deps: AppDeps): RouteSpec[] {
  const clock = deps.clock;
  const tag = 'Triggers';
  return [
    route({
      method: 'post',
      path: '/v1/triggers/:id/invoke',
      operationId: 'invokeTrigger',
      summary: 'Start a run from a signed third-party webhook (the sender calls this)',
      description:
        'No API key: the sender\'s signature over the exact body is the credential (401 when it does not verify or its timestamp is ' +
        'more than 5 minutes off). A repeated delivery id (webhook-id, X-GitHub-Delivery, Stripe event id) answers 409 and starts nothing. ' +
        'GitHub\'s `ping` event is acknowledged with 200 and no run. Form bodies (urlencoded, multipart fields) are read like JSON ' +
        '(`a[b]=c` nests, values are strings) and signed over their exact bytes too.',
      tag,
      auth: { kind: 'public' },
      body: InvokeBody,
      forms: {},
      invalidStatus: 400,
      errors: [401, 402, 404, 409, 429, 503],
      responses: { 200: { description: 'GitHub ping acknowledged; no run', schema: InvocationsSchema }, ...invocationResponses },
      async handler(ctx, { body }) {
        // By id, like a token: every way it is not live is the same 404.
        const trigger = found(ctx, triggerTokens, await findLiveTrigger(deps.db, { id: resourceId(ctx.params.id, 'Trigger') }));
        if (trigger.scheme === 'none') {
          throw new AppError(401, 'UNAUTHORIZED', 'This trigger has no signature scheme: POST to its token URL instead');
        }
        const verified = verifyTriggerRequest(
          {
            scheme: trigger.scheme,
            secret: trigger.secret === null ? null : deps.secrets.open(trigger.secret),
            signatureHeader: trigger.signature_header,
            signatureEncoding: trigger.signature_encoding,
            deliveryIdHeader: trigger.delivery_id_header,
          },
          { rawBody: ctx.state.rawBody ?? Buffer.alloc(0), header: (name) => ctx.get(name) || undefined, payload: body, now: clock() },
        );
        if (!verified.ok) throw new AppError(401, 'UNAUTHORIZED', `The webhook signature did not verify: ${verified.reason}`);
        if (verified.deliveryId !== null && !DELIVERY_ID.test(verified.deliveryId)) {
          throw new AppError(400, 'VALIDATION_FAILED', 'The delivery id must be 1–200 visible ASCII characters');
        }
        // Counted only after the request proved itself, so forged traffic cannot use up a sender's allowance.
        await admitCall(deps, ctx, triggerTokens, trigger);
        if (trigger.scheme === 'github' && ctx.get('x-github-event') === 'ping') {
          ctx.body = { success: true, invocations: [] };
          return;
        }
        await startTriggeredRun(deps, ctx, trigger, body, verified.deliveryId);
      },
    }),
    route({
      method: 'post',
      path: '/api/triggers/:token',
      operationId: 'invokeTriggerByToken',
      summary: 'Start a run from any webhook through a trigger\'s secret token URL (scheme none)',
      description:
        'No other credentials: the token is the auth. Any JSON body, or form fields (urlencoded or multipart, no file parts; `a[b]=c` nests, ' +
        'values are strings); there is no delivery id, so every call starts a run.',
      tag,
      auth: { kind: 'public' },
      body: InvokeBody,
      forms: {},
      invalidStatus: 400,
      errors: [402, 404, 429, 503],
      responses: invocationResponses,
      async handler(ctx, { body }) {
        const trigger = await findByToken(deps, ctx, triggerTokens, ctx.params.token);
        await admitCall(deps, ctx, triggerTokens, trigger);
        await startTriggeredRun(deps, ctx, trigger, body, null);
      },
    }),
  ];
}
