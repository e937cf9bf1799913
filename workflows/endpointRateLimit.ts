import { patched, proxyLocalActivities, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';

// One statement in the worker running the workflow task; not retried for long (the delivery waits).
const { reserveDeliverySlot } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/**
 * Waits for the delivery's turn under its endpoint's rate_limit_per_second: the slot is reserved
 * in Postgres (src/db/endpointRateLimits.ts, shared by every worker), the wait is a durable
 * workflow timer — no polling, no worker slot, nothing refused or dropped. Workflows started
 * before this existed keep their recorded path (`patched`).
 */
export async function throttleDelivery(endpointId: string, deliveryId: string): Promise<void> {
  if (!patched('endpoint-rate-limit')) return;
  const waitMs = await reserveDeliverySlot.executeWithOptions({ summary: `rate limit of endpoint ${endpointId}` }, [endpointId, deliveryId]);
  if (waitMs > 0) await sleep(waitMs);
}
