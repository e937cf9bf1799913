import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/schema.js';
import { generateSigningSecret } from '../outbound/signing.js';
import type { SecretBox } from '../secrets/box.js';

/** Owner of the org-wide secret that signs run callbacks. */
export const CALLBACK_SECRET_OWNER = 'callbacks';

/** Secrets that sign right now, newest first: the current one plus any still in their grace period. */
export async function activeSecrets(db: Kysely<Database>, box: SecretBox, orgId: string, owner: string, now: Date): Promise<string[]> {
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
  return rows.map((r) => box.open(r.secret));
}

/**
 * Serialises secret changes of one owner. Without it two concurrent rotations each expire
 * only the rows their snapshot saw and both insert a secret without expiry: two "current"
 * secrets that never end. A transaction-scoped advisory lock, so nothing else is blocked.
 */
async function lockOwner(trx: Transaction<Database>, orgId: string, owner: string) {
  await sql`select pg_advisory_xact_lock(hashtextextended(${`signing_secrets:${orgId}:${owner}`}, 0))`.execute(trx);
}

/**
 * Makes a new secret current. Earlier ones keep signing alongside it until `graceMs` has
 * passed, so receivers can switch over without dropping a delivery; with no grace they stop
 * at once, leaving exactly one secret.
 */
export async function rotateSecret(db: Kysely<Database>, box: SecretBox, orgId: string, owner: string, now: Date, graceMs: number): Promise<{ secret: string; previousValidUntil: Date | null }> {
  return db.transaction().execute(async (trx) => {
    await lockOwner(trx, orgId, owner);
    const until = new Date(now.getTime() + graceMs);
    const previous = await trx
      .updateTable('signing_secrets')
      .set({ expires_at: until })
      .where('org_id', '=', orgId)
      .where('owner', '=', owner)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', until)]))
      .executeTakeFirst();
    const secret = generateSigningSecret();
    await trx.insertInto('signing_secrets').values({ id: randomUUID(), org_id: orgId, owner, secret: box.seal(secret), created_at: now }).execute();
    return { secret, previousValidUntil: Number(previous.numUpdatedRows) > 0 ? until : null };
  });
}

/**
 * The owner's current secret (the newest without expiry), creating it if there is none yet:
 * under the owner's lock, so concurrent first uses agree on one secret.
 */
export async function currentSecret(db: Kysely<Database>, box: SecretBox, orgId: string, owner: string, now: Date): Promise<string> {
  return db.transaction().execute(async (trx) => {
    await lockOwner(trx, orgId, owner);
    const row = await trx
      .selectFrom('signing_secrets')
      .select('secret')
      .where('org_id', '=', orgId)
      .where('owner', '=', owner)
      .where('expires_at', 'is', null)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (row) return box.open(row.secret);
    const secret = generateSigningSecret();
    await trx.insertInto('signing_secrets').values({ id: randomUUID(), org_id: orgId, owner, secret: box.seal(secret), created_at: now }).execute();
    return secret;
  });
}

/** The secrets to sign with, creating the first one if the owner has none yet. */
export async function secretsForSigning(db: Kysely<Database>, box: SecretBox, orgId: string, owner: string, now: Date): Promise<string[]> {
  const secrets = await activeSecrets(db, box, orgId, owner, now);
  if (secrets.length) return secrets;
  return [await currentSecret(db, box, orgId, owner, now)];
}
