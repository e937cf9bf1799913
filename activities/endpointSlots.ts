import { findDeliveryEndpointId } from '../src/db/deliveries.js';
import { findRunCallbackTarget } from '../src/db/runs.js';
import { acquireEndpointLease, releaseEndpointLease } from '../src/db/streams.js';
import type { ActivityDeps } from './deps.js';

/** What a delivery workflow waits its turn on: an endpoint, or the org's callback origin. */
export type SlotRef = { endpointId: string } | { deliveryId: string } | { callbackOfRun: string };

/**
 * Slots bound concurrent attempts per receiver across every worker (ENDPOINT_MAX_IN_FLIGHT).
 * The workflow takes one through a short activity and, when all are taken, waits with a
 * workflow timer: waiting costs no worker slot and no retry attempt.
 */
export function createEndpointSlotActivities(deps: ActivityDeps) {
  const max = deps.settings.endpointMaxInFlight ?? 25;

  async function targetOf(ref: SlotRef): Promise<string | null> {
    if ('endpointId' in ref) return `endpoint:${ref.endpointId}`;
    if ('deliveryId' in ref) {
      const endpointId = await findDeliveryEndpointId(deps.db, ref.deliveryId);
      return endpointId ? `endpoint:${endpointId}` : null;
    }
    const run = await findRunCallbackTarget(deps.db, ref.callbackOfRun);
    if (!run?.callback_url) return null;
    let origin: string;
    try {
      origin = new URL(run.callback_url).origin;
    } catch {
      return null; // the callback activity reports the bad URL
    }
    // Per org and origin: one tenant's hanging receiver never queues another tenant's callbacks.
    return `callback:${run.org_id}:${origin}`;
  }

  return {
    /** True when `holder` holds (or renewed) a slot of the receiver; false when all are taken. */
    async acquireEndpointSlot(ref: SlotRef, holder: string, leaseMs: number): Promise<boolean> {
      const target = await targetOf(ref);
      if (!target) return true; // nothing to bound: let the attempt report what is wrong
      return acquireEndpointLease(deps.db, { target, holder, max, ttlMs: leaseMs });
    },
    async releaseEndpointSlot(holder: string): Promise<void> {
      await releaseEndpointLease(deps.db, holder);
    },
  };
}
