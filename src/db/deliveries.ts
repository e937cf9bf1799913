import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, DeliveryStatus } from './schema.js';

/** One delivery per (kind, message id, endpoint): retried attempts hang off the same row. */
export async function ensureDelivery(
  db: Kysely<Database>,
  d: { orgId: string; kind: 'callback' | 'endpoint'; runId?: string | null; eventId?: string | null; endpointId?: string | null; url: string; messageId: string },
): Promise<string> {
  const inserted = await db
    .insertInto('deliveries')
    .values({
      id: randomUUID(),
      org_id: d.orgId,
      kind: d.kind,
      run_id: d.runId ?? null,
      event_id: d.eventId ?? null,
      endpoint_id: d.endpointId ?? null,
      url: d.url,
      message_id: d.messageId,
      status: 'pending',
      updated_at: new Date(),
    })
    .onConflict((oc) => oc.constraint('deliveries_message_key').doNothing())
    .returning('id')
    .executeTakeFirst();
  if (inserted) return inserted.id;
  let existing = db.selectFrom('deliveries').select('id').where('kind', '=', d.kind).where('message_id', '=', d.messageId);
  existing = d.endpointId ? existing.where('endpoint_id', '=', d.endpointId) : existing.where('endpoint_id', 'is', null);
  return (await existing.executeTakeFirstOrThrow()).id;
}

export async function recordAttempt(
  db: Kysely<Database>,
  attempt: {
    deliveryId: string;
    attempt: number;
    startedAt: Date;
    statusCode: number | null;
    latencyMs: number;
    responseExcerpt: string | null;
    error: string | null;
    succeeded: boolean;
    /** The delivery's status after this attempt. */
    status: DeliveryStatus;
  },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('delivery_attempts')
      .values({
        delivery_id: attempt.deliveryId,
        attempt: attempt.attempt,
        started_at: attempt.startedAt,
        status_code: attempt.statusCode,
        latency_ms: attempt.latencyMs,
        response_excerpt: attempt.responseExcerpt,
        error: attempt.error,
        succeeded: attempt.succeeded,
      })
      .onConflict((oc) => oc.columns(['delivery_id', 'attempt']).doNothing())
      .execute();
    await trx
      .updateTable('deliveries')
      .set((eb) => ({
        status: attempt.status,
        attempts: eb.fn<number>('greatest', ['attempts', eb.val(attempt.attempt)]),
        last_attempt_at: attempt.startedAt,
        updated_at: new Date(),
      }))
      .where('id', '=', attempt.deliveryId)
      .execute();
  });
}
