import { ApplicationFailure, Context } from '@temporalio/activity';
import { findRunById } from '../src/db/queries.js';
import { ensureDelivery } from '../src/db/deliveries.js';
import { nextDelayMs } from '../src/domain/deliveryPolicy.js';
import { CALLBACK_SECRET_OWNER } from '../src/services/signingSecrets.js';
import type { ActivityDeps } from './deps.js';
import { sendSignedAttempt } from './signedAttempt.js';

const CALLBACK_TIMEOUT_MS = 30_000;

/** Seed 004's callback body; `run_key` is stable across retries so receivers can dedupe. */
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
  };
}

export function createCallbackActivities(deps: ActivityDeps) {
  return {
    /**
     * One attempt at posting a finished run to its callback_url, signed with the org's
     * callback secrets. Each attempt is logged; the next delay follows the retry schedule.
     */
    async deliverCallback(runId: string): Promise<void> {
      const run = await findRunById(deps.db, runId);
      if (!run?.callback_url || run.status === 'processing') return;
      const { attempt } = Context.current().info;
      const messageId = `msg_cb_${run.id}`;
      const deliveryId = await ensureDelivery(deps.db, { orgId: run.org_id, kind: 'callback', runId: run.id, url: run.callback_url, messageId });

      const { response, outcome, error } = await sendSignedAttempt(deps, {
        kind: 'callback',
        deliveryId,
        attempt,
        orgId: run.org_id,
        secretOwner: CALLBACK_SECRET_OWNER,
        url: run.callback_url,
        msgId: messageId,
        body: JSON.stringify(callbackPayload(run, deps.settings.publicUrl)),
        timeoutMs: CALLBACK_TIMEOUT_MS,
        lastAttempt: attempt >= deps.settings.retryScheduleMs.length + 1,
      });
      if (outcome === 'succeeded') return;
      const why = error ?? 'failed';
      if (outcome === 'permanent') {
        throw ApplicationFailure.create({ type: 'CallbackRejected', message: `callback not retried: ${why}`, nonRetryable: true });
      }
      throw ApplicationFailure.create({
        type: 'CallbackFailed',
        message: `callback attempt ${attempt} failed: ${why}`,
        nextRetryDelay: nextDelayMs(deps.settings.retryScheduleMs, attempt, response.headers['retry-after']),
      });
    },
  };
}
