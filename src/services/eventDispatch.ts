import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { subscribedEndpointIds } from '../db/endpoints.js';
import type { Database, EventRow } from '../db/schema.js';
import { startEventDelivery } from '../temporal/gateway.js';

export { subscribedEndpointIds };

/**
 * Starts the event's delivery workflow (id `event-<eventId>`, through src/temporal/gateway.ts)
 * when any endpoint subscribes. The subscription query runs here, once per event: the endpoint
 * ids travel in the workflow's input to planEventDeliveries, which does not ask again.
 * Starting twice is harmless: an existing workflow for the event is left alone, so a retried
 * activity can always call this after storing the event.
 */
export async function dispatchEvent(
  deps: { db: Kysely<Database>; temporal: Client; taskQueue: string },
  event: EventRow,
  /** The subscribers when the caller has just looked them up (see emitForRun); otherwise asked here. */
  subscribers?: string[],
): Promise<boolean> {
  const endpointIds = subscribers ?? (await subscribedEndpointIds(deps.db, event));
  if (!endpointIds.length) return false;
  await startEventDelivery(deps, event, endpointIds);
  return true;
}
