import type { Kysely, Transaction } from 'kysely';
import type { Database, Recovery } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Bulk recovery (POST /v1/endpoints/{id}/recover): every delivery to the endpoint whose last
 * attempt failed for good within [since, until] is sent again. `until` is fixed when the
 * recovery is created (now, when not given), so the resends' own failures, stamped later, never
 * bring a delivery back into the same recovery.
 */
export interface RecoveryWindow {
  endpointId: string;
  since: Date;
  until: Date;
}

function failedInWindow(db: Db, window: RecoveryWindow) {
  return db
    .selectFrom('deliveries')
    .where('endpoint_id', '=', window.endpointId)
    .where('kind', '=', 'endpoint')
    .where('status', '=', 'failed')
    .where('last_attempt_at', '>=', window.since)
    .where('last_attempt_at', '<=', window.until);
}

export async function countRecoverable(db: Db, window: RecoveryWindow): Promise<number> {
  const { n } = await failedInWindow(db, window).select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(n);
}

/** The next page of the window's failed deliveries after `afterId` (by id: stable while others change status). */
export async function recoverablePage(db: Db, window: RecoveryWindow, afterId: string | null, limit: number): Promise<string[]> {
  let query = failedInWindow(db, window).select('id');
  if (afterId) query = query.where('id', '>', afterId);
  return (await query.orderBy('id').limit(limit).execute()).map((r) => r.id);
}

/** Inserts a running recovery; a second running one for the endpoint violates recoveries_running_idx (23505). */
export async function insertRecovery(
  db: Db,
  recovery: { id: string; orgId: string; endpointId: string; since: Date; until: Date; total: number; enabledEndpoint: boolean },
): Promise<Recovery> {
  return db
    .insertInto('recoveries')
    .values({
      id: recovery.id,
      org_id: recovery.orgId,
      endpoint_id: recovery.endpointId,
      since: recovery.since,
      until: recovery.until,
      total: recovery.total,
      enabled_endpoint: recovery.enabledEndpoint,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findRecovery(db: Db, id: string): Promise<Recovery | undefined> {
  return db.selectFrom('recoveries').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findOrgRecovery(db: Db, orgId: string, id: string): Promise<Recovery | undefined> {
  return db.selectFrom('recoveries').selectAll().where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst();
}

export async function findRunningRecovery(db: Db, endpointId: string): Promise<Recovery | undefined> {
  return db.selectFrom('recoveries').selectAll().where('endpoint_id', '=', endpointId).where('status', '=', 'running').executeTakeFirst();
}

export interface RecoveryCounts {
  sent: number;
  succeeded: number;
  failed: number;
}

/** Absolute counts from the workflow: a retried write sets the same values again. */
export async function recordRecoveryProgress(db: Db, id: string, counts: RecoveryCounts): Promise<void> {
  await db.updateTable('recoveries').set(counts).where('id', '=', id).where('status', '=', 'running').execute();
}

export async function finishRecovery(db: Db, id: string, status: 'completed' | 'failed', counts: RecoveryCounts | null, now: Date): Promise<void> {
  await db
    .updateTable('recoveries')
    .set({ ...(counts ?? {}), status, completed_at: now })
    .where('id', '=', id)
    .where('status', '=', 'running')
    .execute();
}

/** A live endpoint of the org (deleted ones are not found). */
export async function findLiveEndpoint(db: Db, orgId: string, id: string) {
  return db.selectFrom('endpoints').selectAll().where('id', '=', id).where('org_id', '=', orgId).where('deleted_at', 'is', null).executeTakeFirst();
}

/** Re-enables an endpoint for a recovery that asked to, clearing its failure streak as PATCH enabled=true does. */
export async function reenableEndpoint(db: Db, id: string, now: Date): Promise<void> {
  await db
    .updateTable('endpoints')
    .set({ enabled: true, disabled_reason: null, consecutive_failures: 0, failing_since: null, updated_at: now })
    .where('id', '=', id)
    .execute();
}
