import type { Kysely, Transaction } from 'kysely';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import type { Database } from './schema.js';
import type { Trigger } from './triggerSchema.js';

type Db = Kysely<Database> | Transaction<Database>;

/** An agent's triggers, newest first. */
export async function listTriggers(db: Db, agentId: string, page: PageRequest): Promise<Page<Trigger>> {
  return keysetPage(db, db.selectFrom('triggers').where('agent_id', '=', agentId), page);
}
