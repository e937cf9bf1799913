import { ActivityFailure, continueAsNew, proxyActivities, proxyLocalActivities, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { throttleDelivery } from './endpointRateLimit.js';
import { withEndpointSlot } from './endpointSlots.js';

export interface RecoveryInput {
  recoveryId: string;
  endpointId: string;
  /** Carried over continue-as-new: the last delivery id done and the counts so far. */
  afterId?: string | null;
  sent?: number;
  succeeded?: number;
  failed?: number;
}

/** Deliveries fetched per page; each page's progress is recorded when it is done. */
const PAGE = 20;
/** Resends in flight at once (the endpoint's own in-flight bound and rate limit apply as well). */
const PARALLEL = 10;
/** Continue as new well before the history warns (each resend adds about ten events). */
const MAX_HISTORY = 4_000;

const bookkeeping = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

// The same attempt as a manual redelivery (`redeliver`): one try, same webhook-id, and a
// failure never counts toward disabling the endpoint.
const { deliverEvent } = proxyActivities<Activities>({ startToCloseTimeout: '5 minutes', heartbeatTimeout: '10 seconds', retry: { maximumAttempts: 1 } });

/**
 * `POST /v1/endpoints/{id}/recover` (workflow id `recovery-<recoveryId>`): resends every delivery
 * of the recovery's window, page by page, through the endpoint's rate limit and in-flight bound,
 * recording progress after each page; continues as new on a long history.
 */
export async function recovery(input: RecoveryInput): Promise<{ sent: number; succeeded: number; failed: number }> {
  const { recoveryId, endpointId } = input;
  let afterId = input.afterId ?? null;
  const counts = { sent: input.sent ?? 0, succeeded: input.succeeded ?? 0, failed: input.failed ?? 0 };
  for (;;) {
    const page = await bookkeeping.nextRecoveryPage.executeWithOptions({ summary: 'next failed deliveries' }, [recoveryId, afterId, PAGE]);
    if (!page.length) break;
    const queue = [...page];
    await Promise.all(
      Array.from({ length: Math.min(PARALLEL, queue.length) }, async () => {
        for (let deliveryId = queue.shift(); deliveryId; deliveryId = queue.shift()) {
          await throttleDelivery(endpointId, deliveryId);
          try {
            const id = deliveryId;
            const result = await withEndpointSlot({ endpointId }, id, () => deliverEvent.executeWithOptions({ summary: `recover delivery ${id}` }, [id, 1, true]));
            if (result === 'succeeded') counts.succeeded++;
            else counts.failed++; // skipped: the endpoint was disabled or deleted meanwhile
          } catch (err) {
            if (!(err instanceof ActivityFailure)) throw err;
            counts.failed++;
          }
          counts.sent++;
        }
      }),
    );
    afterId = page[page.length - 1]!;
    await bookkeeping.recordRecoveryProgress.executeWithOptions({ summary: 'record progress' }, [recoveryId, counts]);
    setCurrentDetails(`Resent ${counts.sent}: ${counts.succeeded} succeeded, ${counts.failed} failed`);
    if (workflowInfo().historyLength > MAX_HISTORY || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof recovery>({ recoveryId, endpointId, afterId, ...counts });
    }
  }
  await bookkeeping.finishRecovery.executeWithOptions({ summary: 'recovery completed' }, [recoveryId, 'completed', counts]);
  return counts;
}
