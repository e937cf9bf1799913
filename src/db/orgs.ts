import type { Db } from './executor.js';

export type { Org } from './schema.js';

export async function insertOrg(db: Db, org: { id: string; name: string }) {
  return db.insertInto('orgs').values(org).returningAll().executeTakeFirstOrThrow();
}

export async function findOrg(db: Db, id: string) {
  return db.selectFrom('orgs').selectAll().where('id', '=', id).executeTakeFirst();
}
