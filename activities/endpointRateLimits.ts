import { addDeliveryThrottle, reserveEndpointSendSlot } from '../src/db/endpointRateLimits.js';
import type { ActivityDeps } from './deps.js';

export function createEndpointRateLimitActivities(deps: ActivityDeps) {
  return {
    /**
     * Reserves the delivery's send slot under its endpoint's rate_limit_per_second and returns
     * how long to wait for it (0: send now, or no limit); the wait is added to the delivery's
     * throttled_ms. The workflow sleeps on a timer until then: no worker slot is held.
     */
    async reserveDeliverySlot(endpointId: string, deliveryId: string): Promise<number> {
      const waitMs = await reserveEndpointSendSlot(deps.db, endpointId);
      if (waitMs > 0) await addDeliveryThrottle(deps.db, deliveryId, waitMs);
      return waitMs;
    },
  };
}
