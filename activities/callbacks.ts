import { ApplicationFailure, Context } from '@temporalio/activity';
import { findRunById } from '../src/db/runs.js';
import { ensureDelivery, findCallbackDelivery, nextAttemptNumber } from '../src/db/deliveries.js';
import { messageId } from '../src/domain/deliveryPayload.js';
import { nextDelayMs } from '../src/domain/deliveryPolicy.js';
import { CALLBACK_SECRET_OWNER } from '../src/services/signingSecrets.js';
import type { ActivityDeps } from './deps.js';
import { attemptOf, sendSignedAttempt, type AttemptPlan } from './signedAttempt.js';

const CALLBACK_TIMEOUT_MS = 30_000;

/**
 * Seed 004's callback body; `run_key` is stable across retries so receivers can dedupe. The
 * run's `agent_id` and `metadata` (what the caller sent, e.g. `{"source":"n8n"}`) come back
 * too, so a receiver can route the result without a lookup.
 */
export function callbackPayload(run: NonNullable<Awaited<ReturnType<typeof findRunById>>>, publicUrl: string) {
  return {
    run_key: run.id,
    status: run.status,
    status_detail: run.status_detail,
    result_text: run.result,
    error_message: run.status === 'failed' || run.status === 'timed_out' ? (run.error ?? run.status_detail) : null,
    conversation_id: run.conversation_id,
    events_url: `${publicUrl}/v1/runs/${run.id}/events`,
    completed_at: run.completed_at?.toISOString() ?? null,
    agent_id: run.agent_id,
    metadata: run.metadata ?? {},
  };
}

/** A run callback's attempt, as `runCallback` builds it. */
export interface CallbackAttemptInput extends AttemptPlan {
  runId: string;
}

export function createCallbackActivities(deps: ActivityDeps) {
  return {
    /**
     * One attempt at posting a finished run to its callback_url, signed with the org's
     * callback secrets. Each attempt is logged; its number, whether it is the last and the
     * next delay come from the workflow's input (`attemptOf`). A `manual` trigger is a
     * customer's retry (POST /v1/runs/{id}/callback/retry): one attempt, sent even if an
     * earlier one succeeded. The positional form is what workflows started before the input
     * existed still send (its budget then is the schedule's, as it was).
     */
    async deliverCallback(input: CallbackAttemptInput | string, legacyManual = false): Promise<void> {
      const plan: CallbackAttemptInput =
        typeof input === 'string'
          ? legacyManual
            ? { runId: input, trigger: 'manual', attempt: 0, maxAttempts: 1 }
            : { runId: input, trigger: 'scheduled', attempt: 1, maxAttempts: deps.settings.retryScheduleMs.length + 1 }
          : input;
      const manual = plan.trigger === 'manual';
      const run = await findRunById(deps.db, plan.runId);
      if (!run?.callback_url || run.status === 'processing') return;
      const context = Context.current();
      // Callbacks already under way keep the webhook-id they were first sent with.
      const existing = await findCallbackDelivery(deps.db, run.id);
      // A worker that died after a successful POST retries into this: do not send it twice.
      if (existing?.status === 'succeeded' && !manual) return;
      const msgId = existing?.message_id ?? messageId(run.id);
      const deliveryId = existing?.id ?? (await ensureDelivery(deps.db, { orgId: run.org_id, kind: 'callback', runId: run.id, url: run.callback_url, messageId: msgId }));
      // A legacy manual retry never said its number: the next one of the log.
      const attempt = attemptOf(plan.attempt > 0 ? plan : { ...plan, attempt: await nextAttemptNumber(deps.db, deliveryId) }, context.info.attempt);

      const { response, outcome, error } = await sendSignedAttempt(
        deps,
        {
          kind: 'callback',
          orgId: run.org_id,
          secretOwner: CALLBACK_SECRET_OWNER,
          url: run.callback_url,
          msgId,
          body: JSON.stringify(callbackPayload(run, deps.settings.publicUrl)),
          timeoutMs: CALLBACK_TIMEOUT_MS,
          log: { deliveryId, attempt: attempt.number, lastAttempt: attempt.last },
        },
        context,
      );
      if (outcome === 'succeeded') return;
      const why = error ?? 'failed';
      if (outcome === 'permanent' || manual) {
        throw ApplicationFailure.create({ type: 'CallbackRejected', message: `callback not retried: ${why}`, nonRetryable: true });
      }
      throw ApplicationFailure.create({
        type: 'CallbackFailed',
        message: `callback attempt ${attempt.number} failed: ${why}`,
        nextRetryDelay: nextDelayMs(deps.settings.retryScheduleMs, attempt.nth, response.headers['retry-after']),
      });
    },
  };
}
