import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';

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

/** Whether the org has any enabled endpoint: a run's announcements skip the per-event subscription lookup when it has none. */
export async function orgHasEnabledEndpoints(db: Kysely<Database> | Transaction<Database>, orgId: string): Promise<boolean> {
  const row = await db.selectFrom('endpoints').select('id').where('org_id', '=', orgId).where('enabled', '=', true).where('deleted_at', 'is', null).limit(1).executeTakeFirst();
  return row !== undefined;
}
