import type { Insertable, Updateable } from 'kysely';
import type { Db } from './executor.js';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import type { TaskDefinition, TaskDefinitionsTable } from './schema.js';

export type { TaskDefinition, TaskDefinitionsTable } from './schema.js';

/** The org's live task definition. */
export async function findTask(db: Db, orgId: string, id: string) {
  return db
    .selectFrom('task_definitions')
    .selectAll()
    .where('id', '=', id)
    .where('org_id', '=', orgId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

/** Whether `id` is a live task definition of this agent. */
export async function findTaskOfAgent(db: Db, agentId: string, id: string) {
  return db.selectFrom('task_definitions').select('id').where('id', '=', id).where('agent_id', '=', agentId).where('deleted_at', 'is', null).executeTakeFirst();
}

export async function insertTask(db: Db, task: Insertable<TaskDefinitionsTable>) {
  return db.insertInto('task_definitions').values(task).returningAll().executeTakeFirstOrThrow();
}

export async function updateTask(db: Db, id: string, set: Updateable<TaskDefinitionsTable>) {
  return db.updateTable('task_definitions').set(set).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export async function softDeleteTask(db: Db, id: string, now: Date) {
  await db.updateTable('task_definitions').set({ deleted_at: now }).where('id', '=', id).execute();
}

/** An agent's live task definitions, newest first. */
export async function listTasks(db: Db, agentId: string, page: PageRequest): Promise<Page<TaskDefinition>> {
  const base = db.selectFrom('task_definitions').where('agent_id', '=', agentId).where('deleted_at', 'is', null);
  return keysetPage(db, base, page);
}

/** A task definition by id, deleted or not (a run names the one it was started with). */
export async function findTaskById(db: Db, id: string) {
  return db.selectFrom('task_definitions').selectAll().where('id', '=', id).executeTakeFirst();
}
