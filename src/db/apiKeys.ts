import type { Kysely, Transaction } from 'kysely';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import type { ApiKey, Database } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

export async function listApiKeys(db: Db, orgId: string, filter: { agentId: string | null }, page: PageRequest): Promise<Page<ApiKey>> {
  let base = db.selectFrom('api_keys').where('org_id', '=', orgId);
  if (filter.agentId) base = base.where('agent_id', '=', filter.agentId);
  return keysetPage(db, base, page);
}
