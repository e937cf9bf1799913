import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, EventRow } from './schema.js';
import { keysetPage, type Page, type PageRequest } from './pagination.js';

/** Channel on which every stored run event is announced, payload = run id. */
export const RUN_EVENTS_CHANNEL = 'run_events';

/**
 * Appends a run event with the next sequence number, once per dedupe key: a retried activity
 * finds its event already there and adds nothing. The run row lock orders concurrent appends,
 * so sequences have no gaps, and NOTIFY fires on commit for every API process's SSE streams.
 */
export async function appendRunEvent(
  db: Kysely<Database>,
  event: { runId: string; type: string; dedupeKey: string; payload: unknown; at: Date },
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const run = await trx.selectFrom('runs').select('event_seq').where('id', '=', event.runId).forUpdate().executeTakeFirstOrThrow();
    const existing = await trx
      .selectFrom('run_events')
      .select('sequence')
      .where('run_id', '=', event.runId)
      .where('dedupe_key', '=', event.dedupeKey)
      .executeTakeFirst();
    if (existing) return existing.sequence;
    const sequence = run.event_seq + 1;
    await trx.updateTable('runs').set({ event_seq: sequence }).where('id', '=', event.runId).execute();
    await trx
      .insertInto('run_events')
      .values({
        run_id: event.runId,
        sequence,
        event_type: event.type,
        dedupe_key: event.dedupeKey,
        payload: JSON.stringify(event.payload ?? {}),
        created_at: event.at,
      })
      .execute();
    await sql`select pg_notify(${RUN_EVENTS_CHANNEL}, ${event.runId})`.execute(trx);
    return sequence;
  });
}

export async function listRunEvents(db: Kysely<Database>, runId: string, afterSequence: number) {
  return db
    .selectFrom('run_events')
    .selectAll()
    .where('run_id', '=', runId)
    .where('sequence', '>', afterSequence)
    .orderBy('sequence')
    .execute();
}

/** Stores a customer-facing event once per dedupe key; returns its id (new or existing). */
export async function storeEvent(
  db: Kysely<Database> | Transaction<Database>,
  event: { orgId: string; agentId: string | null; runId: string | null; type: string; data: Record<string, unknown>; dedupeKey: string; at: Date },
): Promise<{ event: EventRow; created: boolean }> {
  const inserted = await db
    .insertInto('events')
    .values({
      id: randomUUID(),
      org_id: event.orgId,
      agent_id: event.agentId,
      run_id: event.runId,
      type: event.type,
      data: JSON.stringify(event.data),
      dedupe_key: event.dedupeKey,
      created_at: event.at,
    })
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { event: inserted, created: true };
  const existing = await db.selectFrom('events').selectAll().where('dedupe_key', '=', event.dedupeKey).executeTakeFirstOrThrow();
  return { event: existing, created: false };
}



/**
 * A new run's first event, `run_queued` (sequence 1), announced on commit: written in the
 * transaction that stores the run, so no accepted run lacks it.
 */
export async function insertRunQueuedEvent(
  db: Kysely<Database> | Transaction<Database>,
  runId: string,
  payload: Record<string, unknown> = { status: 'processing' },
): Promise<void> {
  await db
    .insertInto('run_events')
    .values({ run_id: runId, sequence: 1, event_type: 'run_queued', dedupe_key: 'run_queued', payload: JSON.stringify(payload) })
    .execute();
  await sql`select pg_notify(${RUN_EVENTS_CHANNEL}, ${runId})`.execute(db);
}

/** The org's event by id. */
export async function findEvent(db: Kysely<Database> | Transaction<Database>, orgId: string, id: string): Promise<EventRow | undefined> {
  return db.selectFrom('events').selectAll().where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst();
}

/** A customer event by its dedupe key (e.g. a run's low-balance crossing, looked up on a retry). */
export async function findEventByDedupeKey(db: Kysely<Database> | Transaction<Database>, dedupeKey: string): Promise<EventRow | undefined> {
  return db.selectFrom('events').selectAll().where('dedupe_key', '=', dedupeKey).executeTakeFirst();
}

export interface EventFilter {
  agentId?: string | null;
  type?: string;
  createdAfter?: Date;
  createdBefore?: Date;
}

/** An org's customer events, newest first (indexes per filter in migration 20261201T0200_list_indexes). */
export async function listEvents(db: Kysely<Database> | Transaction<Database>, orgId: string, filter: EventFilter, page: PageRequest): Promise<Page<EventRow>> {
  let base = db.selectFrom('events').where('org_id', '=', orgId);
  if (filter.agentId) base = base.where('agent_id', '=', filter.agentId);
  if (filter.type) base = base.where('type', '=', filter.type);
  if (filter.createdAfter) base = base.where('created_at', '>=', filter.createdAfter);
  if (filter.createdBefore) base = base.where('created_at', '<', filter.createdBefore);
  return keysetPage(db, base, page);
}
