import type { Kysely, Transaction } from 'kysely';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import type { Database, Run, RunStatus } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

export interface RunFilter {
  agentId?: string | null;
  status?: RunStatus;
  createdAfter?: Date;
  createdBefore?: Date;
}

/**
 * An org's runs, newest first. Every filter combination the API documents has an index
 * ending in (created_at, id) (migration 20261201T0200_list_indexes).
 */
export async function listRuns(db: Db, orgId: string, filter: RunFilter, page: PageRequest): Promise<Page<Run>> {
  let base = db.selectFrom('runs').where('org_id', '=', orgId);
  if (filter.agentId) base = base.where('agent_id', '=', filter.agentId);
  if (filter.status) base = base.where('status', '=', filter.status);
  if (filter.createdAfter) base = base.where('created_at', '>=', filter.createdAfter);
  if (filter.createdBefore) base = base.where('created_at', '<', filter.createdBefore);
  return keysetPage(db, base, page);
}
