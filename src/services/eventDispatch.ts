import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { AgentIdKey, EndpointIdKey, EventTypeKey, OrgIdKey } from '../../workflows/searchAttributes.js';
import { deliveriesTaskQueue } from '../../workflows/taskQueues.js';
import { subscribedEndpointIds } from '../db/endpoints.js';
import type { Database, EventRow } from '../db/schema.js';

export { subscribedEndpointIds };

export const eventWorkflowId = (eventId: string) => `event-${eventId}`;

/**
 * Starts the event's delivery workflow (id `event-<eventId>`) when any endpoint subscribes, on
 * the deliveries task queue of `taskQueue` (the main one).
 * Starting twice is harmless: an existing workflow for the event is left alone, so a retried
 * activity can always call this after storing the event.
 */
export async function dispatchEvent(deps: { db: Kysely<Database>; temporal: Client; taskQueue: string }, event: EventRow): Promise<boolean> {
  const endpointIds = await subscribedEndpointIds(deps.db, event);
  if (!endpointIds.length) return false;
  try {
    await deps.temporal.workflow.start('eventDelivery', {
      workflowId: eventWorkflowId(event.id),
      taskQueue: deliveriesTaskQueue(deps.taskQueue),
      args: [{ eventId: event.id }],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      typedSearchAttributes: [
        { key: OrgIdKey, value: event.org_id },
        { key: EventTypeKey, value: event.type },
        { key: EndpointIdKey, value: endpointIds },
        ...(event.agent_id ? [{ key: AgentIdKey, value: event.agent_id }] : []),
      ],
      staticSummary: `Deliver ${event.type} to ${endpointIds.length} endpoint${endpointIds.length === 1 ? '' : 's'}`,
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  return true;
}
