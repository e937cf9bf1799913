import type { Db } from './executor.js';

export type { Org } from './schema.js';

export async function insertOrg(db: Db, org: { id: string; name: string }) {
  return db.insertInto('orgs').values(org).returningAll().executeTakeFirstOrThrow();
}

export async function findOrg(db: Db, id: string) {
  return db.selectFrom('orgs').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The balance below which a charge announces wallet.balance_low. */
export async function findLowBalanceThreshold(db: Db, orgId: string): Promise<number> {
  const org = await db.selectFrom('orgs').select('low_balance_threshold').where('id', '=', orgId).executeTakeFirstOrThrow();
  return Number(org.low_balance_threshold);
}
