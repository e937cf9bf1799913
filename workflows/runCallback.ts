import { patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { CallbackAttemptInput } from '../activities/callbacks.js';
import type { Activities } from '../activities/index.js';
import { ATTEMPT_INPUT_PATCH } from './eventDelivery.js';
import { withEndpointSlot } from './endpointSlots.js';

export interface RunCallbackInput {
  runId: string;
  /** First attempt plus one per entry of the retry schedule. */
  maxAttempts: number;
  /** A customer's retry (`POST /v1/runs/{id}/callback/retry`, id `callback-retry-<runId>-<n>`): one attempt now. */
  manual?: boolean;
  /** A manual retry's delivery-log number (the stored attempts + 1); read by the workflow when absent. */
  attempt?: number;
}

const numbering = proxyLocalActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/**
 * Posts a finished run's result to its callback_url, workflow id `callback-<runId>`.
 * Temporal owns the retries: the activity sets each next delay from DELIVERY_RETRY_SCHEDULE
 * (with jitter); every non-2xx answer but 410 Gone is retried (n8n's temporary 404 and 409).
 */
export async function runCallback({ runId, maxAttempts, manual = false, attempt }: RunCallbackInput): Promise<void> {
  const summary = manual ? 'manual retry of the callback' : 'POST the result to callback_url';
  // Only an unnumbered manual retry adds a step (reading its number): the marker goes there alone.
  if (manual && attempt === undefined && !patched(ATTEMPT_INPUT_PATCH)) {
    const { deliverCallback } = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', heartbeatTimeout: '10 seconds', retry: { maximumAttempts: 1 } });
    await withEndpointSlot({ callbackOfRun: runId }, 'callback', () => deliverCallback.executeWithOptions({ summary }, [runId, true]));
    return;
  }
  // The budget was computed once, when the run started (its plan); the activity never recounts it.
  const attempts: CallbackAttemptInput = manual
    ? { runId, trigger: 'manual', attempt: attempt ?? (await numbering.nextAttemptOf.executeWithOptions({ summary: 'number the attempt' }, [{ callbackOfRun: runId }])), maxAttempts: 1 }
    : { runId, trigger: 'scheduled', attempt: 1, maxAttempts };
  const { deliverCallback } = proxyActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: '10 seconds', // the attempt heartbeats while it waits on the receiver
    retry: { maximumAttempts: attempts.maxAttempts, initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 day' },
  });
  // At most ENDPOINT_MAX_IN_FLIGHT callbacks of one org run against one origin at a time; the rest wait.
  await withEndpointSlot({ callbackOfRun: runId }, 'callback', () => deliverCallback.executeWithOptions({ summary }, [attempts]));
}
