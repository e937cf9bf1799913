import { attemptsOf } from '../../db/deliveries.js';
import type { Db } from '../../db/executor.js';
import type { Delivery } from '../../db/schema.js';
import { maskUrlCredentials } from '../../domain/urlCredentials.js';

/** Deliveries (of an endpoint, an event or a run's callback) as the API shows them, each with every attempt: one query for the attempts. */
export async function presentDeliveries(db: Db, deliveries: Delivery[]) {
  const attempts = await attemptsOf(db, deliveries.map((d) => d.id));
  return deliveries.map((d) => ({
    id: d.id,
    kind: d.kind,
    event_id: d.event_id,
    endpoint_id: d.endpoint_id,
    run_id: d.run_id,
    url: maskUrlCredentials(d.url),
    message_id: d.message_id,
    status: d.status,
    attempts: attempts
      .filter((a) => a.delivery_id === d.id)
      .map((a) => ({
        attempt: a.attempt,
        started_at: a.started_at.toISOString(),
        status_code: a.status_code,
        latency_ms: a.latency_ms,
        response_excerpt: a.response_excerpt,
        error: a.error,
        succeeded: a.succeeded,
      })),
    throttled_ms: d.throttled_ms,
    created_at: d.created_at.toISOString(),
    updated_at: d.updated_at.toISOString(),
  }));
}
