import { ActivityFailure, patched, proxyActivities, proxyLocalActivities, setCurrentDetails } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { DeliveryAttemptInput } from '../activities/signedAttempt.js';
import { throttleDelivery } from './endpointRateLimit.js';
import { withEndpointSlot } from './endpointSlots.js';

export interface EventDeliveryInput {
  eventId: string;
  /** The subscribed endpoints, found once by dispatchEvent; absent in workflows started before it passed them. */
  endpointIds?: string[];
}

export interface EventDeliveryResult {
  delivered: number;
  failed: number;
  skipped: number;
}

// Planning is a few reads and idempotent inserts: a local activity saves a server round trip
// per event (measured in BENCHMARKS.md: one-at-a-time delivery p50 96 ms → 60 ms).
const planning = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * Delivers one event (workflow id `event-<eventId>`) to every subscribed, enabled endpoint,
 * one activity per endpoint with that endpoint's timeout and retry budget. Endpoints fail
 * independently: one receiver's outage never delays or fails another's delivery.
 */
export async function eventDelivery({ eventId, endpointIds }: EventDeliveryInput): Promise<EventDeliveryResult> {
  const plan = await planning.planEventDeliveries.executeWithOptions({ summary: 'find subscribed endpoints' }, endpointIds ? [eventId, endpointIds] : [eventId]);
  setCurrentDetails(`Delivering to ${plan.length} endpoint(s)`);
  const outcomes = await Promise.all(
    plan.map(async (delivery) => {
      // The one description of these attempts: the activity numbers and times them from it, and
      // Temporal's retry budget is its maxAttempts.
      const attempts: DeliveryAttemptInput = { deliveryId: delivery.deliveryId, trigger: 'scheduled', attempt: 1, maxAttempts: delivery.maxAttempts };
      const { deliverEvent } = proxyActivities<Activities>({
        startToCloseTimeout: `${delivery.timeoutSeconds + 15} seconds`,
        // The attempt heartbeats while it waits: a killed worker's attempt is retried in seconds.
        heartbeatTimeout: '10 seconds',
        // Delays come from the activity (DELIVERY_RETRY_SCHEDULE via nextRetryDelay).
        retry: { maximumAttempts: attempts.maxAttempts, initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 day' },
      });
      try {
        // The endpoint's rate_limit_per_second first: a durable timer until this delivery's slot.
        await throttleDelivery(delivery.endpointId, delivery.deliveryId);
        // At most ENDPOINT_MAX_IN_FLIGHT of these run against one endpoint at a time; the rest wait.
        return await withEndpointSlot({ endpointId: delivery.endpointId }, delivery.endpointId, () =>
          deliverEvent.executeWithOptions({ summary: `deliver to endpoint ${delivery.endpointId}` }, [attempts]),
        );
      } catch (err) {
        if (err instanceof ActivityFailure) return 'failed' as const;
        throw err;
      }
    }),
  );
  const result = {
    delivered: outcomes.filter((o) => o === 'succeeded').length,
    failed: outcomes.filter((o) => o === 'failed').length,
    skipped: outcomes.filter((o) => o === 'skipped').length,
  };
  setCurrentDetails(`Delivered ${result.delivered}, failed ${result.failed}, skipped ${result.skipped}`);
  return result;
}

export interface RedeliverInput {
  deliveryId: string;
  /** The delivery-log number of this attempt (the stored attempts + 1, as the starter numbered the workflow id); read by the workflow when absent. */
  attempt?: number;
}

/** Workflows started before the attempt input send the activity positional arguments and read no number. */
export const ATTEMPT_INPUT_PATCH = 'delivery-attempt-input';

/**
 * `POST /v1/deliveries/{id}/retry`: one more attempt now, same webhook-id (id
 * `redeliver-<deliveryId>-<n>`). A manual trigger: whatever the receiver answers, it never
 * counts toward disabling the endpoint.
 */
export async function redeliver({ deliveryId, attempt }: RedeliverInput): Promise<string> {
  const { deliverEvent } = proxyActivities<Activities>({ startToCloseTimeout: '5 minutes', heartbeatTimeout: '10 seconds', retry: { maximumAttempts: 1 } });
  // Only an unnumbered retry adds a step (reading its number): the marker goes there alone.
  if (attempt === undefined && !patched(ATTEMPT_INPUT_PATCH)) {
    return withEndpointSlot({ deliveryId }, deliveryId, () => deliverEvent.executeWithOptions({ summary: 'manual redelivery' }, [deliveryId, 1, true]));
  }
  const input: DeliveryAttemptInput = {
    deliveryId,
    trigger: 'manual',
    attempt: attempt ?? (await planning.nextAttemptOf.executeWithOptions({ summary: 'number the attempt' }, [{ deliveryId }])),
    maxAttempts: 1,
  };
  return withEndpointSlot({ deliveryId }, deliveryId, () => deliverEvent.executeWithOptions({ summary: 'manual redelivery' }, [input]));
}
