import type { Kysely, Transaction } from 'kysely';
import type { Database, Delivery, DeliveryAttempt, DeliveryStatus, Endpoint } from './schema.js';
import { findEndpointById, recordEndpointAttempt, type EndpointAttemptEffect } from './endpoints.js';
import type { Db } from './executor.js';
import { newRowId } from './ids.js';
import { keysetPage, type Page, type PageRequest } from './pagination.js';

/** One delivery per (kind, message id, endpoint): retried attempts hang off the same row. */
export async function ensureDelivery(
  db: Kysely<Database>,
  d: { orgId: string; kind: 'callback' | 'endpoint'; runId?: string | null; eventId?: string | null; endpointId?: string | null; url: string; messageId: string },
): Promise<string> {
  const inserted = await db
    .insertInto('deliveries')
    .values({
      id: newRowId(),
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

/**
 * One attempt into the delivery log, the delivery's status after it and, for an endpoint's
 * delivery, the attempt's effect on the endpoint: one transaction, so a delivery never shows
 * `failed` without its failure counted. The effect is applied once per attempt: a recording
 * retried after its commit (the answer lost) finds the attempt stored and leaves the endpoint as
 * it is. Returns the endpoint as it is afterwards.
 */
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
    /** When it was recorded. */
    at: Date;
  },
  endpoint?: { id: string; effect: EndpointAttemptEffect },
): Promise<Endpoint | undefined> {
  return db.transaction().execute(async (trx) => {
    const inserted = await trx
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
      .returning('attempt')
      .executeTakeFirst();
    await trx
      .updateTable('deliveries')
      .set((eb) => ({
        status: attempt.status,
        attempts: eb.fn<number>('greatest', ['attempts', eb.val(attempt.attempt)]),
        last_attempt_at: attempt.startedAt,
        updated_at: attempt.at,
      }))
      .where('id', '=', attempt.deliveryId)
      .execute();
    if (!endpoint) return undefined;
    if (!inserted) return findEndpointById(trx, endpoint.id);
    return recordEndpointAttempt(trx, endpoint.id, attempt.startedAt, endpoint.effect);
  });
}

/** A run's callback delivery (one per run), if it was ever attempted. */
export async function findCallbackDelivery(db: Kysely<Database>, runId: string) {
  return db.selectFrom('deliveries').selectAll().where('run_id', '=', runId).where('kind', '=', 'callback').orderBy('created_at').limit(1).executeTakeFirst();
}

/** The number the next attempt of a delivery gets: attempts are numbered 1, 2, … across automatic and manual sends. */
export async function nextAttemptNumber(db: Kysely<Database>, deliveryId: string): Promise<number> {
  const last = await db.selectFrom('delivery_attempts').select((eb) => eb.fn.max('attempt').as('n')).where('delivery_id', '=', deliveryId).executeTakeFirst();
  return Number(last?.n ?? 0) + 1;
}

/** The callback deliveries of some runs with each one's latest attempt, for run pages. */
export async function callbackDeliveriesOf(db: Kysely<Database>, runIds: string[]) {
  const found = new Map<string, { delivery: Delivery; last?: { status_code: number | null; error: string | null } }>();
  if (!runIds.length) return found;
  const deliveries = await db.selectFrom('deliveries').selectAll().where('run_id', 'in', runIds).where('kind', '=', 'callback').execute();
  if (!deliveries.length) return found;
  const latest = await db
    .selectFrom('delivery_attempts')
    .distinctOn('delivery_id')
    .select(['delivery_id', 'status_code', 'error'])
    .where('delivery_id', 'in', deliveries.map((d) => d.id))
    .orderBy('delivery_id')
    .orderBy('attempt', 'desc')
    .execute();
  for (const delivery of deliveries) {
    found.set(delivery.run_id!, { delivery, last: latest.find((a) => a.delivery_id === delivery.id) });
  }
  return found;
}



/** The org's delivery by id. */
export async function findDelivery(db: Db, orgId: string, id: string): Promise<Delivery | undefined> {
  return db.selectFrom('deliveries').selectAll().where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst();
}

/** A run's callback deliveries, oldest first. */
export async function callbackDeliveriesOfRun(db: Db, runId: string): Promise<Delivery[]> {
  return db.selectFrom('deliveries').selectAll().where('run_id', '=', runId).where('kind', '=', 'callback').orderBy('created_at').execute();
}

/** An event's deliveries, oldest first. */
export async function deliveriesOfEvent(db: Db, eventId: string): Promise<Delivery[]> {
  return db.selectFrom('deliveries').selectAll().where('event_id', '=', eventId).orderBy('created_at').execute();
}

/** Every attempt of some deliveries, in attempt order (one query for a page). */
export async function attemptsOf(db: Db, deliveryIds: readonly string[]): Promise<DeliveryAttempt[]> {
  if (!deliveryIds.length) return [];
  return db.selectFrom('delivery_attempts').selectAll().where('delivery_id', 'in', [...deliveryIds]).orderBy('attempt').execute();
}

/** Deliveries to one endpoint, newest first; index deliveries (endpoint_id, [status,] created_at, id). */
export async function listEndpointDeliveries(
  db: Kysely<Database> | Transaction<Database>,
  endpointId: string,
  filter: { status?: DeliveryStatus },
  page: PageRequest,
): Promise<Page<Delivery>> {
  let base = db.selectFrom('deliveries').where('endpoint_id', '=', endpointId);
  if (filter.status) base = base.where('status', '=', filter.status);
  return keysetPage(db, base, page);
}

/** A delivery by id alone (the attempt activity, which the workflow names it to). */
export async function findDeliveryById(db: Db, id: string): Promise<Delivery> {
  return db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

/** The endpoint a delivery goes to (null for a run's callback). */
export async function findDeliveryEndpointId(db: Db, id: string): Promise<string | null> {
  const row = await db.selectFrom('deliveries').select('endpoint_id').where('id', '=', id).executeTakeFirst();
  return row?.endpoint_id ?? null;
}
