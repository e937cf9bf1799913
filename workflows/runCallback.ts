import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { withEndpointSlot } from './endpointSlots.js';

export interface RunCallbackInput {
  runId: string;
  /** First attempt plus one per entry of the retry schedule. */
  maxAttempts: number;
  /** A customer's retry (`POST /v1/runs/{id}/callback/retry`, id `callback-retry-<runId>-<n>`): one attempt now. */
  manual?: boolean;
}

/**
 * Posts a finished run's result to its callback_url, workflow id `callback-<runId>`.
 * Temporal owns the retries: the activity sets each next delay from DELIVERY_RETRY_SCHEDULE
 * (with jitter); every non-2xx answer but 410 Gone is retried (n8n's temporary 404 and 409).
 */
export async function runCallback({ runId, maxAttempts, manual = false }: RunCallbackInput): Promise<void> {
  const { deliverCallback } = proxyActivities<Activities>({
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: '10 seconds', // the attempt heartbeats while it waits on the receiver
    retry: { maximumAttempts: manual ? 1 : maxAttempts, initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 day' },
  });
  // At most ENDPOINT_MAX_IN_FLIGHT callbacks of one org run against one origin at a time; the rest wait.
  await withEndpointSlot({ callbackOfRun: runId }, 'callback', () =>
    deliverCallback.executeWithOptions({ summary: manual ? 'manual retry of the callback' : 'POST the result to callback_url' }, manual ? [runId, true] : [runId]),
  );
}
