import { compiledOnce, type Db } from './executor.js';
import { stampLastUse } from './lastUse.js';
import { keysetPage, type Page, type PageRequest } from './pagination.js';
import type { ApiKey } from './schema.js';

export type { ApiKey, ApiKeysTable, NewApiKey } from './schema.js';

export async function insertApiKey(
  db: Db,
  key: { id: string; orgId: string; agentId: string | null; name: string; prefix: string; hash: string; scopes: readonly string[] },
) {
  return db
    .insertInto('api_keys')
    .values({
      id: key.id,
      org_id: key.orgId,
      agent_id: key.agentId,
      name: key.name,
      prefix: key.prefix,
      key_hash: key.hash,
      scopes: [...key.scopes],
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findActiveApiKeyByHash(db: Db, hash: string) {
  return (await activeKeyByHash(db, hash))[0];
}

const activeKeyByHash = compiledOnce((db: Db, hash: string) => db.selectFrom('api_keys').selectAll().where('key_hash', '=', hash).where('revoked_at', 'is', null));

/** Records a key's use at most once a minute (stampLastUse), so authentication is not a write per request. */
export async function touchApiKey(db: Db, id: string, lastUsedAt: Date | null, now: Date) {
  await stampLastUse(db, { table: 'api_keys', column: 'last_used_at' }, { id, last: lastUsedAt }, now);
}

export async function listApiKeys(db: Db, orgId: string, filter: { agentId: string | null }, page: PageRequest): Promise<Page<ApiKey>> {
  let base = db.selectFrom('api_keys').where('org_id', '=', orgId);
  if (filter.agentId) base = base.where('agent_id', '=', filter.agentId);
  return keysetPage(db, base, page);
}

export async function findApiKey(db: Db, orgId: string, id: string) {
  return db.selectFrom('api_keys').selectAll().where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst();
}

/** Idempotent: revoking a revoked key keeps its first revocation time. */
export async function revokeApiKey(db: Db, orgId: string, id: string, now: Date) {
  await db
    .updateTable('api_keys')
    .set({ revoked_at: now })
    .where('id', '=', id)
    .where('org_id', '=', orgId)
    .where('revoked_at', 'is', null)
    .execute();
}
