import type { Insertable, Updateable } from 'kysely';
import type { Db } from './executor.js';
import { stampLastUse } from './lastUse.js';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import type { Trigger, TriggersTable } from './triggerSchema.js';

export type { Trigger, TriggersTable } from './triggerSchema.js';

/**
 * A trigger that can start runs right now: enabled, its agent not deleted; by id, or by the
 * token of a scheme-none trigger.
 */
export async function findLiveTrigger(db: Db, by: { id: string } | { tokenHash: string }): Promise<Trigger | undefined> {
  let query = db
    .selectFrom('triggers')
    .innerJoin('agents', 'agents.id', 'triggers.agent_id')
    .selectAll('triggers')
    .where('triggers.enabled', '=', true)
    .where('agents.deleted_at', 'is', null);
  query = 'id' in by ? query.where('triggers.id', '=', by.id) : query.where('triggers.token_hash', '=', by.tokenHash).where('triggers.scheme', '=', 'none');
  return query.executeTakeFirst();
}

/** The org's trigger, unless its agent is deleted (the caller checks the agent scope). */
export async function findTrigger(db: Db, orgId: string, id: string): Promise<Trigger | undefined> {
  return db
    .selectFrom('triggers')
    .innerJoin('agents', 'agents.id', 'triggers.agent_id')
    .selectAll('triggers')
    .where('triggers.id', '=', id)
    .where('triggers.org_id', '=', orgId)
    .where('agents.deleted_at', 'is', null)
    .executeTakeFirst();
}

export async function insertTrigger(db: Db, trigger: Insertable<TriggersTable>) {
  return db.insertInto('triggers').values(trigger).returningAll().executeTakeFirstOrThrow();
}

export async function updateTrigger(db: Db, id: string, set: Updateable<TriggersTable>) {
  return db.updateTable('triggers').set(set).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export async function deleteTrigger(db: Db, id: string) {
  await db.deleteFrom('triggers').where('id', '=', id).execute();
}

/** A trigger started a run: its stamp, to the minute as an API key's (src/domain/lastUsed.ts). */
export async function touchTrigger(db: Db, trigger: { id: string; last_invoked_at: Date | null }, now: Date) {
  await stampLastUse(db, { table: 'triggers', column: 'last_invoked_at' }, { id: trigger.id, last: trigger.last_invoked_at }, now);
}

/** Every stored trigger secret (secrets reseal). */
export async function listTriggerSecrets(db: Db) {
  return db.selectFrom('triggers').select(['id', 'secret']).where('secret', 'is not', null).execute();
}

/** Compare-and-set of a trigger secret; returns rows changed. */
export async function replaceTriggerSecret(db: Db, id: string, expected: string, next: string): Promise<number> {
  const done = await db.updateTable('triggers').set({ secret: next }).where('id', '=', id).where('secret', '=', expected).executeTakeFirst();
  return Number(done.numUpdatedRows);
}

/** An agent's triggers, newest first. */
export async function listTriggers(db: Db, agentId: string, page: PageRequest): Promise<Page<Trigger>> {
  return keysetPage(db, db.selectFrom('triggers').where('agent_id', '=', agentId), page);
}
