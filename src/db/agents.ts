import type { Kysely, Transaction } from 'kysely';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import type { Agent, Database } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

/** An org's live agents, newest first; an agent-scoped caller sees its own agent only. */
export async function listAgents(db: Db, orgId: string, filter: { agentId: string | null }, page: PageRequest): Promise<Page<Agent>> {
  let base = db.selectFrom('agents').where('org_id', '=', orgId).where('deleted_at', 'is', null);
  if (filter.agentId) base = base.where('id', '=', filter.agentId);
  return keysetPage(db, base, page);
}
