import { CancellationScope, condition, patched, proxyLocalActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { SlotRef } from '../activities/endpointSlots.js';
import { slotHolderId } from './ids.js';

// One short transaction each: local activities (a marker in the history, no task round trip),
// so the guard adds little to every delivery and its polling little to a busy endpoint.
const { acquireEndpointSlot, releaseEndpointSlot } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** A crashed or terminated holder's slot frees itself after this; a live one renews it. */
const LEASE_MS = 5 * 60_000;

/**
 * Runs `work` (an attempt with its retries) holding one of the receiver's ENDPOINT_MAX_IN_FLIGHT
 * slots. When all are taken it waits on a workflow timer (no worker slot, no retry attempt
 * spent), polling with a growing interval. Workflows started before this existed keep their
 * recorded path (`patched`).
 */
export async function withEndpointSlot<T>(ref: SlotRef, key: string, work: () => Promise<T>): Promise<T> {
  if (!patched('endpoint-slots')) return work();
  const { workflowId, runId } = workflowInfo();
  const holder = slotHolderId(workflowId, runId, key);
  for (let waitMs = 250; !(await acquireEndpointSlot(ref, holder, LEASE_MS)); waitMs = Math.min(waitMs * 2, 1_000)) {
    await sleep(waitMs + Math.floor(Math.random() * 250)); // deterministic in a workflow; spreads the waiters
  }
  let done = false;
  const renewing = (async () => {
    while (!(await condition(() => done, LEASE_MS / 3))) await acquireEndpointSlot(ref, holder, LEASE_MS);
  })();
  try {
    return await work();
  } finally {
    done = true;
    await CancellationScope.nonCancellable(async () => {
      await renewing.catch(() => undefined);
      await releaseEndpointSlot(holder);
    });
  }
}
