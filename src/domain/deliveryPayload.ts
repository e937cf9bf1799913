import type { Endpoint } from '../db/schema.js';

/**
 * DESIGN.md's delivery body: the same for every attempt of one event to one endpoint. `event`
 * repeats `type` under seed 003's name. The bytes are exactly JSON.stringify of the parsed
 * body, so seed 003's receivers, which HMAC JSON.stringify(req.body), verify it too.
 */
export function deliveryBody(
  event: { id: string; type: string; created_at: Date; data: unknown },
  endpoint: Pick<Endpoint, 'id' | 'name'>,
): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    event: event.type,
    timestamp: event.created_at.toISOString(),
    webhook: { id: endpoint.id, name: endpoint.name ?? '' },
    data: event.data,
  });
}

/**
 * The one `webhook-id` scheme: `msg_` + the 32 hex digits of what is delivered — the event's
 * id for an event (the same on every endpoint), the run's id (`run_key`) for a run's callback.
 * It stays the same on every retry and manual resend, so receivers dedupe on it.
 */
export const messageId = (eventOrRunId: string) => `msg_${eventOrRunId.replaceAll('-', '').toLowerCase()}`;

export const endpointSecretOwner = (endpointId: string) => `endpoint:${endpointId}`;
