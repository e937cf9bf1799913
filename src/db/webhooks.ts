import type { Kysely, Transaction } from 'kysely';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import type { Database, InboundWebhook } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

/** An agent's live inbound webhooks, newest first. */
export async function listWebhooks(db: Db, agentId: string, page: PageRequest): Promise<Page<InboundWebhook>> {
  const base = db.selectFrom('inbound_webhooks').where('agent_id', '=', agentId).where('deleted_at', 'is', null);
  return keysetPage(db, base, page);
}
