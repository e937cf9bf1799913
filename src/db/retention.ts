import { sql, type Kysely, type Transaction } from 'kysely';
import { emptyPurgeCounts, type PurgeCounts } from '../../workflows/purgeCounts.js';
import type { Database, EventLogMode, Run } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

/** An Idempotency-Key names one run for 24 hours (as Stripe's do); a replay after that is a new run. */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 3_600_000;

const affected = (result: { numDeletedRows?: bigint; numUpdatedRows?: bigint } | undefined) => Number(result?.numDeletedRows ?? result?.numUpdatedRows ?? 0);

/** The org at or after `cursor` (by id), with its window; undefined past the last org. */
export async function orgAtCursor(db: Db, cursor: string | null) {
  let query = db.selectFrom('orgs').select(['id', 'retention_days']).orderBy('id').limit(1);
  if (cursor) query = query.where('id', '>=', cursor);
  return query.executeTakeFirst();
}

export async function orgAfter(db: Db, orgId: string): Promise<string | null> {
  const next = await db.selectFrom('orgs').select('id').where('id', '>', orgId).orderBy('id').limit(1).executeTakeFirst();
  return next?.id ?? null;
}

/** Sets what the org keeps: its retention window and which events it logs (a field left out stays as it is). */
export async function setOrgDataSettings(db: Db, orgId: string, set: { retention_days?: number | null; event_log?: EventLogMode | null }) {
  const returned = ['id', 'name', 'retention_days', 'event_log', 'created_at'] as const;
  if (set.retention_days === undefined && set.event_log === undefined) {
    return db.selectFrom('orgs').select(returned).where('id', '=', orgId).executeTakeFirst();
  }
  return db.updateTable('orgs').set(set).where('id', '=', orgId).returning(returned).executeTakeFirst();
}

/** Deletes the deliveries (and their attempts) of these runs and of these events. */
async function deleteDeliveries(trx: Transaction<Database>, where: { runIds: string[]; eventIds: string[] }, counts: PurgeCounts) {
  const deliveryIds = (
    await trx
      .selectFrom('deliveries')
      .select('id')
      .where((eb) =>
        eb.or([
          ...(where.runIds.length ? [eb('run_id', 'in', where.runIds)] : []),
          ...(where.eventIds.length ? [eb('event_id', 'in', where.eventIds)] : []),
        ]),
      )
      .execute()
  ).map((d) => d.id);
  if (!deliveryIds.length) return;
  counts.delivery_attempts += affected(await trx.deleteFrom('delivery_attempts').where('delivery_id', 'in', deliveryIds).executeTakeFirst());
  counts.deliveries += affected(await trx.deleteFrom('deliveries').where('id', 'in', deliveryIds).executeTakeFirst());
}

/**
 * One batch of an org's runs older than `cutoff`, with every row that hangs off them, children
 * before parents, in one short transaction. Runs still processing, still holding credits or with
 * a delivery still being retried are left for a later purge; rows another transaction holds are
 * skipped (SKIP LOCKED), so the purge never waits on a live run and nothing waits long on it.
 * The ledger is not touched: balances and ledger sums stay what they were.
 */
export async function purgeRunsBatch(db: Kysely<Database>, scope: { orgId: string; cutoff: Date; limit: number }): Promise<PurgeCounts> {
  return db.transaction().execute(async (trx) => {
    const counts = emptyPurgeCounts();
    const runs = await trx
      .selectFrom('runs')
      .select(['id', 'conversation_id'])
      .where('org_id', '=', scope.orgId)
      .where('created_at', '<', scope.cutoff)
      .where('status', '!=', 'processing')
      .where(sql<boolean>`coalesce(credits_held, 0) = 0`)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('deliveries as d').select('d.id').whereRef('d.run_id', '=', 'runs.id').where('d.status', '=', 'pending'))),
      )
      .orderBy('created_at')
      .limit(scope.limit)
      .forUpdate()
      .skipLocked()
      .execute();
    if (!runs.length) return counts;
    const runIds = runs.map((r) => r.id);
    const eventIds = (await trx.selectFrom('events').select('id').where('run_id', 'in', runIds).execute()).map((e) => e.id);
    await deleteDeliveries(trx, { runIds, eventIds }, counts);
    if (eventIds.length) counts.events += affected(await trx.deleteFrom('events').where('id', 'in', eventIds).executeTakeFirst());
    counts.run_events += affected(await trx.deleteFrom('run_events').where('run_id', 'in', runIds).executeTakeFirst());
    counts.messages += affected(await trx.deleteFrom('messages').where('run_id', 'in', runIds).executeTakeFirst());
    counts.stream_tokens += affected(await trx.deleteFrom('stream_tokens').where('run_id', 'in', runIds).executeTakeFirst());
    counts.runs += affected(await trx.deleteFrom('runs').where('id', 'in', runIds).executeTakeFirst());
    // Their conversations go with their last run (a conversation still continued keeps its rows).
    const conversationIds = [...new Set(runs.map((r) => r.conversation_id).filter((id): id is string => id !== null))];
    if (conversationIds.length) {
      const idle = await trx
        .selectFrom('conversations')
        .select('id')
        .where('id', 'in', conversationIds)
        .where(({ not, exists, selectFrom }) => not(exists(selectFrom('runs as r').select('r.id').whereRef('r.conversation_id', '=', 'conversations.id'))))
        .forUpdate()
        .skipLocked()
        .execute();
      const idleIds = idle.map((c) => c.id);
      if (idleIds.length) {
        counts.messages += affected(await trx.deleteFrom('messages').where('conversation_id', 'in', idleIds).executeTakeFirst());
        counts.conversations += affected(await trx.deleteFrom('conversations').where('id', 'in', idleIds).executeTakeFirst());
      }
    }
    return counts;
  });
}

/** One batch of an org's events not tied to a run (wallet, endpoint events) older than `cutoff`, with their deliveries. */
export async function purgeOrgEventsBatch(db: Kysely<Database>, scope: { orgId: string; cutoff: Date; limit: number }): Promise<PurgeCounts> {
  return db.transaction().execute(async (trx) => {
    const counts = emptyPurgeCounts();
    const events = await trx
      .selectFrom('events')
      .select('id')
      .where('org_id', '=', scope.orgId)
      .where('run_id', 'is', null)
      .where('created_at', '<', scope.cutoff)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('deliveries as d').select('d.id').whereRef('d.event_id', '=', 'events.id').where('d.status', '=', 'pending'))),
      )
      .orderBy('created_at')
      .limit(scope.limit)
      .forUpdate()
      .skipLocked()
      .execute();
    if (!events.length) return counts;
    const eventIds = events.map((e) => e.id);
    await deleteDeliveries(trx, { runIds: [], eventIds }, counts);
    counts.events += affected(await trx.deleteFrom('events').where('id', 'in', eventIds).executeTakeFirst());
    return counts;
  });
}

/** Forgets up to `limit` Idempotency-Keys older than `before` (the run stays; its key no longer replays). */
export async function expireIdempotencyKeys(db: Kysely<Database>, scope: { before: Date; limit: number }): Promise<number> {
  const result = await db
    .updateTable('runs')
    .set({ idempotency_key: null, request_hash: null })
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('runs as r')
        .select('r.id')
        .where('r.idempotency_key', 'is not', null)
        .where('r.created_at', '<', scope.before)
        .limit(scope.limit)
        .forUpdate()
        .skipLocked(),
    )
    .executeTakeFirst();
  return affected(result);
}

/** Up to `limit` expired stream tokens (a run's SSE credentials) removed. */
export async function purgeExpiredStreamTokens(db: Kysely<Database>, scope: { before: Date; limit: number }): Promise<number> {
  const result = await db
    .deleteFrom('stream_tokens')
    .where('token_hash', 'in', (eb) => eb.selectFrom('stream_tokens as t').select('t.token_hash').where('t.expires_at', '<', scope.before).limit(scope.limit))
    .executeTakeFirst();
  return affected(result);
}

/**
 * The run an Idempotency-Key still names (within 24 h of the run's creation). An expired key
 * is released on the spot, so the caller's new run can take it before the sweep gets there.
 */
export async function findRunByLiveIdempotencyKey(db: Db, orgId: string, key: string, now: Date = new Date()): Promise<Run | undefined> {
  const run = await db.selectFrom('runs').selectAll().where('org_id', '=', orgId).where('idempotency_key', '=', key).executeTakeFirst();
  if (!run) return undefined;
  if (run.created_at.getTime() > now.getTime() - IDEMPOTENCY_KEY_TTL_MS) return run;
  await db.updateTable('runs').set({ idempotency_key: null, request_hash: null }).where('id', '=', run.id).where('idempotency_key', '=', key).execute();
  return undefined;
}
