import { sql, type Insertable, type Kysely, type Transaction, type Updateable } from 'kysely';
import type { Db } from './executor.js';
import type { Database, Endpoint, EndpointsTable, EventRow } from './schema.js';
import { keysetPage, type Page, type PageRequest } from './pagination.js';

export type { Endpoint, EndpointsTable } from './schema.js';

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



/** The org's endpoint, unless deleted (the caller checks an agent-scoped key's reach). */
export async function findEndpoint(db: Db, orgId: string, id: string): Promise<Endpoint | undefined> {
  return db.selectFrom('endpoints').selectAll().where('id', '=', id).where('org_id', '=', orgId).where('deleted_at', 'is', null).executeTakeFirst();
}

/** By id alone, deleted or not: for a delivery that names it. */
export async function findEndpointById(db: Db, id: string): Promise<Endpoint> {
  return db.selectFrom('endpoints').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

export async function insertEndpoint(db: Db, endpoint: Insertable<EndpointsTable>): Promise<Endpoint> {
  return db.insertInto('endpoints').values(endpoint).returningAll().executeTakeFirstOrThrow();
}

export async function updateEndpoint(db: Db, id: string, set: Updateable<EndpointsTable>): Promise<Endpoint> {
  return db.updateTable('endpoints').set(set).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
}

export async function softDeleteEndpoint(db: Db, id: string, now: Date) {
  await db.updateTable('endpoints').set({ deleted_at: now, enabled: false, updated_at: now }).where('id', '=', id).execute();
}

export interface EndpointHealthCounts {
  total: number;
  succeeded: number;
  failed: number;
}

/** Deliveries of the last 24 hours per endpoint, for a whole page of endpoints in one query. */
export async function deliveryCounts24h(db: Db, endpointIds: readonly string[]): Promise<Map<string, EndpointHealthCounts>> {
  const counts = new Map<string, EndpointHealthCounts>();
  if (!endpointIds.length) return counts;
  const rows = await db
    .selectFrom('deliveries')
    .select([
      'endpoint_id',
      sql<string>`count(*)`.as('total'),
      sql<string>`count(*) filter (where status = 'succeeded')`.as('succeeded'),
      sql<string>`count(*) filter (where status = 'failed')`.as('failed'),
    ])
    .where('endpoint_id', 'in', [...endpointIds])
    .where('created_at', '>', sql<Date>`now() - interval '24 hours'`)
    .groupBy('endpoint_id')
    .execute();
  for (const row of rows) {
    counts.set(row.endpoint_id!, { total: Number(row.total), succeeded: Number(row.succeeded), failed: Number(row.failed) });
  }
  return counts;
}

/** Enabled endpoints of the event's org that subscribe to its type (and its agent, if they name agents). */
export async function subscribedEndpointIds(db: Db, event: Pick<EventRow, 'org_id' | 'agent_id' | 'type'>): Promise<string[]> {
  let query = db
    .selectFrom('endpoints')
    .select('id')
    .where('org_id', '=', event.org_id)
    .where('enabled', '=', true)
    .where('deleted_at', 'is', null)
    .where(sql<boolean>`${event.type} = any(events)`);
  query = event.agent_id
    ? query.where((eb) => eb.or([sql<boolean>`cardinality(agent_ids) = 0`, sql<boolean>`${event.agent_id}::uuid = any(agent_ids)`]))
    : query.where(sql<boolean>`cardinality(agent_ids) = 0`);
  return (await query.orderBy('created_at').execute()).map((r) => r.id);
}

/** Every endpoint's stored custom headers (secrets reseal). */
export async function listEndpointHeaders(db: Db) {
  return db.selectFrom('endpoints').select(['id', 'headers']).execute();
}

/** Compare-and-set of an endpoint's headers; returns rows changed. */
export async function replaceEndpointHeaders(db: Db, id: string, expected: Record<string, string>, next: Record<string, string>): Promise<number> {
  const done = await db
    .updateTable('endpoints')
    .set({ headers: JSON.stringify(next) })
    .where('id', '=', id)
    .where('headers', '=', JSON.stringify(expected) as never)
    .executeTakeFirst();
  return Number(done.numUpdatedRows);
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

/** Endpoints by id (a planned event's subscribers). */
export async function findEndpointsByIds(db: Db, ids: readonly string[]): Promise<Endpoint[]> {
  if (!ids.length) return [];
  return db.selectFrom('endpoints').selectAll().where('id', 'in', [...ids]).execute();
}

/** Disables an enabled endpoint; false when it was not enabled (someone else disabled it first). */
export async function disableEndpoint(db: Db, id: string, reason: string, now: Date): Promise<boolean> {
  const disabled = await db
    .updateTable('endpoints')
    .set({ enabled: false, disabled_reason: reason, updated_at: now })
    .where('id', '=', id)
    .where('enabled', '=', true)
    .executeTakeFirst();
  return Number(disabled.numUpdatedRows) === 1;
}

/**
 * What an attempt did to its endpoint. `succeeded` resets the failure count; `failed` only
 * stamps last_triggered_at; `gave_up` (a delivery's last scheduled attempt failed) also counts
 * one more consecutive failure, with failing_since set on the first.
 */
export type EndpointAttemptEffect = 'succeeded' | 'failed' | 'gave_up';

/** An attempt reached (or tried to reach) the endpoint: its effect, as the endpoint is afterwards. */
export async function recordEndpointAttempt(db: Db, id: string, at: Date, effect: EndpointAttemptEffect): Promise<Endpoint> {
  return db
    .updateTable('endpoints')
    .set((eb) =>
      effect === 'succeeded'
        ? { consecutive_failures: 0, failing_since: null, last_triggered_at: at }
        : effect === 'gave_up'
          ? { consecutive_failures: eb('consecutive_failures', '+', 1), failing_since: eb.fn.coalesce('failing_since', eb.val(at)), last_triggered_at: at, updated_at: at }
          : { last_triggered_at: at },
    )
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}
