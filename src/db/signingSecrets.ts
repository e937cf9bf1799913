import { sql, type Transaction } from 'kysely';
import type { Db } from './executor.js';
import type { Database } from './schema.js';

export type { SigningSecretsTable } from './schema.js';

/** Sealed secrets of an owner that sign right now, newest first: the current one plus any in their grace period. */
export async function findActiveSecrets(db: Db, orgId: string, owner: string, now: Date): Promise<string[]> {
  const rows = await db
    .selectFrom('signing_secrets')
    .select('secret')
    .where('org_id', '=', orgId)
    .where('owner', '=', owner)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    // The current secret (no expiry) first whatever the clocks of racing API processes said.
    .orderBy(sql`expires_at is null`, 'desc')
    .orderBy('expires_at', 'desc')
    .orderBy('created_at', 'desc')
    .execute();
  return rows.map((r) => r.secret);
}

/**
 * Serialises secret changes of one owner. Without it two concurrent rotations each expire
 * only the rows their snapshot saw and both insert a secret without expiry: two "current"
 * secrets that never end. A transaction-scoped advisory lock, so nothing else is blocked.
 */
export async function lockSecretOwner(trx: Transaction<Database>, orgId: string, owner: string) {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`signing_secrets:${orgId}:${owner}`}, 0))`.execute(trx);
}

/** Ends every secret of the owner that would outlive `until` at `until`; true when there was one. */
export async function expireSecretsAt(db: Db, orgId: string, owner: string, until: Date): Promise<boolean> {
  const previous = await db
    .updateTable('signing_secrets')
    .set({ expires_at: until })
    .where('org_id', '=', orgId)
    .where('owner', '=', owner)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', until)]))
    .executeTakeFirst();
  return Number(previous.numUpdatedRows) > 0;
}

export async function insertSigningSecret(db: Db, s: { id: string; orgId: string; owner: string; sealed: string; now: Date }) {
  await db.insertInto('signing_secrets').values({ id: s.id, org_id: s.orgId, owner: s.owner, secret: s.sealed, created_at: s.now }).execute();
}

/** The owner's current (newest unexpiring) sealed secret. */
export async function findCurrentSecret(db: Db, orgId: string, owner: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('signing_secrets')
    .select('secret')
    .where('org_id', '=', orgId)
    .where('owner', '=', owner)
    .where('expires_at', 'is', null)
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.secret;
}

/** Every stored signing secret (secrets reseal). */
export async function listSigningSecrets(db: Db) {
  return db.selectFrom('signing_secrets').select(['id', 'secret']).execute();
}

/** Compare-and-set of a stored secret; returns rows changed. */
export async function replaceSigningSecret(db: Db, id: string, expected: string, next: string): Promise<number> {
  const done = await db.updateTable('signing_secrets').set({ secret: next }).where('id', '=', id).where('secret', '=', expected).executeTakeFirst();
  return Number(done.numUpdatedRows);
}
