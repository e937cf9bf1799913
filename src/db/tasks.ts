import type { Kysely, Transaction } from 'kysely';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import type { Database, TaskDefinition } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

/** An agent's live task definitions, newest first. */
export async function listTasks(db: Db, agentId: string, page: PageRequest): Promise<Page<TaskDefinition>> {
  const base = db.selectFrom('task_definitions').where('agent_id', '=', agentId).where('deleted_at', 'is', null);
  return keysetPage(db, base, page);
}
