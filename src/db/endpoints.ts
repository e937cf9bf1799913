import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, Endpoint } from './schema.js';
import { keysetPage, type Page, type PageRequest } from './pagination.js';

export class EndpointCapReached extends Error {
  override name = 'EndpointCapReached';
  constructor(readonly limit: number) {
    super(`an organization can have at most ${limit} active endpoints`);
  }
}

/**
 * Runs `write` (an insert, or an update that leaves the endpoint enabled) only while the org
 * stays within `limit` active endpoints. Counting and writing under one transaction-scoped
 * advisory lock per org serialises concurrent creates of one org, so 30 at once against 49
 * active end with exactly 50; other orgs (other lock keys) and run acceptance (the org row)
 * never wait on it. `excludeId` is the endpoint being updated, counted as the write decides.
 */
export async function withinActiveEndpointCap<T>(
  db: Kysely<Database>,
  orgId: string,
  limit: number,
  excludeId: string | null,
  write: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtextextended(${`endpoints:${orgId}`}, 0))`.execute(trx);
    let active = trx
      .selectFrom('endpoints')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('org_id', '=', orgId)
      .where('enabled', '=', true)
      .where('deleted_at', 'is', null);
    if (excludeId) active = active.where('id', '!=', excludeId);
    const { n } = await active.executeTakeFirstOrThrow();
    if (Number(n) >= limit) throw new EndpointCapReached(limit);
    return write(trx);
  });
}

/**
 * An org's live endpoints, newest first. An agent-scoped caller sees the endpoints of its agent
 * alone; `agentId` from an org-wide caller also shows the endpoints of every agent.
 */
export async function listEndpoints(
  db: Kysely<Database> | Transaction<Database>,
  orgId: string,
  filter: { scopedAgentId: string | null; agentId: string | null },
  page: PageRequest,
): Promise<Page<Endpoint>> {
  let base = db.selectFrom('endpoints').where('org_id', '=', orgId).where('deleted_at', 'is', null);
  const agentId = filter.scopedAgentId ?? filter.agentId;
  if (filter.scopedAgentId) base = base.where(sql<boolean>`agent_ids = array[${filter.scopedAgentId}]::uuid[]`);
  else if (agentId) base = base.where((eb) => eb.or([sql<boolean>`cardinality(agent_ids) = 0`, sql<boolean>`${agentId}::uuid = any(agent_ids)`]));
  return keysetPage(db, base, page);
}
