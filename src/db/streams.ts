import { sql, type ColumnType, type Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface StreamTables {
  /** Short-lived credentials for one run's event stream (browsers' EventSource cannot send headers). */
  stream_tokens: {
    /** SHA-256 (hex) of the token; the token itself is never stored. */
    token_hash: string;
    run_id: string;
    /** The key that minted it: revoking that key ends the token and the streams it opened. */
    api_key_id: string;
    expires_at: ColumnType<Date, Date, never>;
    created_at: ColumnType<Date, Date | undefined, never>;
  };
  /** One row per delivery/callback attempt in flight against a receiver (ENDPOINT_MAX_IN_FLIGHT). */
  endpoint_leases: {
    holder: string;
    target: string;
    expires_at: ColumnType<Date, Date, Date>;
  };
}

type Db = Kysely<Database>;

export async function insertStreamToken(db: Db, token: { hash: string; runId: string; apiKeyId: string; expiresAt: Date }): Promise<void> {
  await db
    .insertInto('stream_tokens')
    .values({ token_hash: token.hash, run_id: token.runId, api_key_id: token.apiKeyId, expires_at: token.expiresAt })
    .execute();
  // Expired tokens are worthless: sweep a few on each mint so the table stays small.
  await db
    .deleteFrom('stream_tokens')
    .where('token_hash', 'in', (eb) => eb.selectFrom('stream_tokens').select('token_hash').where('expires_at', '<', sql<Date>`now()`).limit(100))
    .execute();
}

/** The unexpired token's run and its key, only while that key is not revoked. */
export async function findLiveStreamToken(db: Db, hash: string, now: Date) {
  return db
    .selectFrom('stream_tokens')
    .innerJoin('api_keys', 'api_keys.id', 'stream_tokens.api_key_id')
    .select(['stream_tokens.run_id', 'api_keys.id as key_id', 'api_keys.org_id', 'api_keys.name as key_name', 'api_keys.agent_id', 'api_keys.scopes'])
    .where('stream_tokens.token_hash', '=', hash)
    .where('stream_tokens.expires_at', '>', now)
    .where('api_keys.revoked_at', 'is', null)
    .executeTakeFirst();
}

/**
 * Of `keyIds` (API keys and portal sessions alike), those revoked, expired or gone: one query
 * per heartbeat for every stream of this process.
 */
export async function revokedKeyIds(db: Db, keyIds: string[], now: Date = new Date()): Promise<Set<string>> {
  if (!keyIds.length) return new Set();
  const live = await db
    .selectFrom('api_keys')
    .select('id')
    .where('id', 'in', keyIds)
    .where('revoked_at', 'is', null)
    .unionAll(
      db
        .selectFrom('portal_sessions')
        .select('id')
        .where('id', 'in', keyIds)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now),
    )
    .execute();
  const alive = new Set(live.map((r) => r.id));
  return new Set(keyIds.filter((id) => !alive.has(id)));
}

/**
 * Takes one of `max` slots of `target` for `holder` until `ttlMs` from now; false when all are
 * taken by live holders. Serialised per target by a transaction-scoped advisory lock, so the cap
 * holds across every worker. Taking it again as the same holder (a retried activity) renews it.
 */
export async function acquireEndpointLease(db: Db, lease: { target: string; holder: string; max: number; ttlMs: number }): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtextextended(${`lease:${lease.target}`}, 0))`.execute(trx);
    const expiresAt = sql<Date>`now() + ${`${lease.ttlMs} milliseconds`}::interval`;
    const mine = await trx
      .updateTable('endpoint_leases')
      .set({ expires_at: expiresAt })
      .where('holder', '=', lease.holder)
      .returning('holder')
      .executeTakeFirst();
    if (mine) return true;
    await trx.deleteFrom('endpoint_leases').where('target', '=', lease.target).where('expires_at', '<', sql<Date>`now()`).execute();
    const { n } = await trx
      .selectFrom('endpoint_leases')
      .select(sql<string>`count(*)`.as('n'))
      .where('target', '=', lease.target)
      .executeTakeFirstOrThrow();
    if (Number(n) >= lease.max) return false;
    await trx.insertInto('endpoint_leases').values({ holder: lease.holder, target: lease.target, expires_at: expiresAt }).execute();
    return true;
  });
}

export async function releaseEndpointLease(db: Db, holder: string): Promise<void> {
  await db.deleteFrom('endpoint_leases').where('holder', '=', holder).execute();
}
