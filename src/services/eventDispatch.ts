import type { Client } from '@temporalio/client';
import { sql, type Kysely } from 'kysely';
import type { Database, EventRow } from '../db/schema.js';
import { startEventDelivery } from '../temporal/gateway.js';

/** Enabled endpoints of the event's org that subscribe to its type (and its agent, if they name agents). */
export async function subscribedEndpointIds(db: Kysely<Database>, event: Pick<EventRow, 'org_id' | 'agent_id' | 'type'>): Promise<string[]> {
  let query = db
    .selectFrom('endpoints')
    .select('id')
    .where('org_id', '=', event.org_id)
    .where('enabled', '=', true)
    .where('deleted_at', 'is', null)
    .where(sql<boolean>`${event.type} = any(events)`);
  query = event.agent_id
    ? query.where((eb) => eb.or([sql<boolean>`cardinality(agent_ids) = 0`, sql<boolean>`${event.agent_id}::uuid = any(agent_ids)`]))
    : query.where(sql<boolean>`cardinality(agent_ids) = 0`);
  return (await query.orderBy('created_at').execute()).map((r) => r.id);
}

/**
 * Starts the event's delivery workflow (id `event-<eventId>`, through src/temporal/gateway.ts)
 * when any endpoint subscribes. The subscription query runs here, once per event: the endpoint
 * ids travel in the workflow's input to planEventDeliveries, which does not ask again.
 * Starting twice is harmless: an existing workflow for the event is left alone, so a retried
 * activity can always call this after storing the event.
 */
export async function dispatchEvent(deps: { db: Kysely<Database>; temporal: Client; taskQueue: string }, event: EventRow): Promise<boolean> {
  const endpointIds = await subscribedEndpointIds(deps.db, event);
  if (!endpointIds.length) return false;
  await startEventDelivery(deps, event, endpointIds);
  return true;
}
