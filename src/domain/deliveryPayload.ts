import type { Endpoint } from '../db/schema.js';

/** DESIGN.md's delivery body: the same for every attempt of one event to one endpoint. */
export function deliveryBody(
  event: { id: string; type: string; created_at: Date; data: unknown },
  endpoint: Pick<Endpoint, 'id' | 'name'>,
): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    timestamp: event.created_at.toISOString(),
    webhook: { id: endpoint.id, name: endpoint.name ?? '' },
    data: event.data,
  });
}

/** The webhook-id of an event: one per event, the same on every endpoint and every retry. */
export const eventMessageId = (eventId: string) => `msg_${eventId.replaceAll('-', '')}`;

export const endpointSecretOwner = (endpointId: string) => `endpoint:${endpointId}`;
