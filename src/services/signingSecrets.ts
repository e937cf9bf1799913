import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
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
    .orderBy('created_at', 'desc')
    .execute();
  return rows.map((r) => box.open(r.secret));
}

/**
 * Makes a new secret current. Earlier ones keep signing alongside it until `graceMs` has
 * passed, so receivers can switch over without dropping a delivery.
 */
export async function rotateSecret(db: Kysely<Database>, box: SecretBox, orgId: string, owner: string, now: Date, graceMs: number): Promise<{ secret: string; previousValidUntil: Date | null }> {
  return db.transaction().execute(async (trx) => {
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

/** The secrets to sign with, creating the first one if the owner has none yet. */
export async function secretsForSigning(db: Kysely<Database>, box: SecretBox, orgId: string, owner: string, now: Date): Promise<string[]> {
  const secrets = await activeSecrets(db, box, orgId, owner, now);
  if (secrets.length) return secrets;
  return [(await rotateSecret(db, box, orgId, owner, now, 0)).secret];
}
