import { ActivityFailure, proxyActivities, proxyLocalActivities, setCurrentDetails } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { throttleDelivery } from './endpointRateLimit.js';
import { withEndpointSlot } from './endpointSlots.js';

export interface EventDeliveryInput {
  eventId: string;
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
export async function eventDelivery({ eventId }: EventDeliveryInput): Promise<EventDeliveryResult> {
  const plan = await planning.planEventDeliveries.executeWithOptions({ summary: 'find subscribed endpoints' }, [eventId]);
  setCurrentDetails(`Delivering to ${plan.length} endpoint(s)`);
  const outcomes = await Promise.all(
    plan.map(async (delivery) => {
      const { deliverEvent } = proxyActivities<Activities>({
        startToCloseTimeout: `${delivery.timeoutSeconds + 15} seconds`,
        // The attempt heartbeats while it waits: a killed worker's attempt is retried in seconds.
        heartbeatTimeout: '10 seconds',
        // Delays come from the activity (DELIVERY_RETRY_SCHEDULE via nextRetryDelay).
        retry: { maximumAttempts: delivery.maxAttempts, initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 day' },
      });
      try {
        // The endpoint's rate_limit_per_second first: a durable timer until this delivery's slot.
        await throttleDelivery(delivery.endpointId, delivery.deliveryId);
        // At most ENDPOINT_MAX_IN_FLIGHT of these run against one endpoint at a time; the rest wait.
        return await withEndpointSlot({ endpointId: delivery.endpointId }, delivery.endpointId, () =>
          deliverEvent.executeWithOptions({ summary: `deliver to endpoint ${delivery.endpointId}` }, [delivery.deliveryId, delivery.maxAttempts]),
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

/** `POST /v1/deliveries/{id}/retry`: one more attempt now, same webhook-id (id `redeliver-<deliveryId>-<n>`). */
export async function redeliver({ deliveryId }: { deliveryId: string }): Promise<string> {
  const { deliverEvent } = proxyActivities<Activities>({ startToCloseTimeout: '5 minutes', heartbeatTimeout: '10 seconds', retry: { maximumAttempts: 1 } });
  return withEndpointSlot({ deliveryId }, deliveryId, () => deliverEvent.executeWithOptions({ summary: 'manual redelivery' }, [deliveryId, 1, true]));
}
