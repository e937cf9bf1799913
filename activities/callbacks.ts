import { ApplicationFailure, Context } from '@temporalio/activity';
import { findRunById } from '../src/db/queries.js';
import { ensureDelivery, recordAttempt } from '../src/db/deliveries.js';
import { classify, describeOutcome, nextDelayMs } from '../src/domain/deliveryPolicy.js';
import { webhookHeaders } from '../src/outbound/signing.js';
import { CALLBACK_SECRET_OWNER, secretsForSigning } from '../src/services/signingSecrets.js';
import { deliveryAttempts } from '../src/metrics.js';
import type { ActivityDeps } from './deps.js';
import { whileHeartbeating } from './heartbeat.js';

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

      const body = JSON.stringify(callbackPayload(run, deps.settings.publicUrl));
      const startedAt = deps.clock();
      const secrets = await secretsForSigning(deps.db, deps.secrets, run.org_id, CALLBACK_SECRET_OWNER, startedAt);
      const response = await whileHeartbeating(
        deps.http.send({
          url: run.callback_url,
          method: 'POST',
          headers: webhookHeaders({ msgId: messageId, timestamp: startedAt, body, secrets }),
          body,
          timeoutMs: CALLBACK_TIMEOUT_MS,
          signal: Context.current().cancellationSignal,
        }),
      );
      const outcome = classify(response);
      deliveryAttempts.inc({ kind: 'callback', outcome });
      const lastAttempt = attempt >= deps.settings.retryScheduleMs.length + 1;
      await recordAttempt(deps.db, {
        deliveryId,
        attempt,
        startedAt,
        statusCode: response.status,
        latencyMs: Math.round(response.latencyMs),
        responseExcerpt: response.body ? response.body.slice(0, 2048) : null,
        error: describeOutcome(response, run.callback_url),
        succeeded: outcome === 'succeeded',
        status: outcome === 'succeeded' ? 'succeeded' : outcome === 'permanent' || lastAttempt ? 'failed' : 'pending',
      });
      if (outcome === 'succeeded') return;
      const why = describeOutcome(response, run.callback_url) ?? 'failed';
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
