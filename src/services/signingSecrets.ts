import { randomUUID } from 'node:crypto';
import { inTransaction, type Db } from '../db/executor.js';
import { expireSecretsAt, findActiveSecrets, findCurrentSecret, insertSigningSecret, lockSecretOwner } from '../db/signingSecrets.js';
import { generateSigningSecret } from '../outbound/signing.js';
import type { SecretBox } from '../secrets/box.js';

/** Owner of the org-wide secret that signs run callbacks. */
export const CALLBACK_SECRET_OWNER = 'callbacks';

/** Secrets that sign right now, newest first: the current one plus any still in their grace period. */
export async function activeSecrets(db: Db, box: SecretBox, orgId: string, owner: string, now: Date): Promise<string[]> {
  return (await findActiveSecrets(db, orgId, owner, now)).map((sealed) => box.open(sealed));
}

/**
 * Makes a new secret current. Earlier ones keep signing alongside it until `graceMs` has
 * passed, so receivers can switch over without dropping a delivery; with no grace they stop
 * at once, leaving exactly one secret. Given a transaction, it joins it (an endpoint and its
 * first secret commit together).
 */
export async function rotateSecret(db: Db, box: SecretBox, orgId: string, owner: string, now: Date, graceMs: number): Promise<{ secret: string; previousValidUntil: Date | null }> {
  return inTransaction(db, async (trx) => {
    await lockSecretOwner(trx, orgId, owner);
    const until = new Date(now.getTime() + graceMs);
    const hadPrevious = await expireSecretsAt(trx, orgId, owner, until);
    const secret = generateSigningSecret();
    await insertSigningSecret(trx, { id: randomUUID(), orgId, owner, sealed: box.seal(secret), now });
    return { secret, previousValidUntil: hadPrevious ? until : null };
  });
}

/**
 * The owner's current secret (the newest without expiry), creating it if there is none yet:
 * under the owner's lock, so concurrent first uses agree on one secret.
 */
export async function currentSecret(db: Db, box: SecretBox, orgId: string, owner: string, now: Date): Promise<string> {
  return inTransaction(db, async (trx) => {
    await lockSecretOwner(trx, orgId, owner);
    const sealed = await findCurrentSecret(trx, orgId, owner);
    if (sealed) return box.open(sealed);
    const secret = generateSigningSecret();
    await insertSigningSecret(trx, { id: randomUUID(), orgId, owner, sealed: box.seal(secret), now });
    return secret;
  });
}

/** The secrets to sign with, creating the first one if the owner has none yet. */
export async function secretsForSigning(db: Db, box: SecretBox, orgId: string, owner: string, now: Date): Promise<string[]> {
  const secrets = await activeSecrets(db, box, orgId, owner, now);
  if (secrets.length) return secrets;
  return [await currentSecret(db, box, orgId, owner, now)];
}
