import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { grantCredits } from '../db/credits.js';
import { insertAgent, insertApiKey, insertOrg } from '../db/queries.js';
import type { Agent, ApiKey, Database, Org } from '../db/schema.js';
import { generateApiKey, SCOPES, type Scope } from '../domain/apiKeys.js';
import { generateSigningSecret } from '../outbound/signing.js';
import type { SecretBox } from '../secrets/box.js';
import { CALLBACK_SECRET_OWNER } from './signingSecrets.js';

export interface CreatedOrg {
  org: Org;
  /** The first key's full secret: returned once, never stored. */
  apiKey: string;
  apiKeyRow: ApiKey;
  /** The secret that signs the org's run callbacks, created with it so the first callback verifies. */
  callbackSecret?: string;
}

/**
 * An org, its first org-wide key with every scope and its opening credit grant, in one
 * transaction; given the secret box, also the secret that signs its callbacks (returned once,
 * readable later with GET /v1/callback-secret).
 */
export async function createOrgWithKey(db: Kysely<Database>, input: { name: string; credits?: number }, box?: SecretBox): Promise<CreatedOrg> {
  return db.transaction().execute(async (trx) => {
    const org = await insertOrg(trx, { id: randomUUID(), name: input.name });
    if (input.credits) {
      await grantCredits(trx, { orgId: org.id, amount: input.credits, reason: 'Opening grant' });
    }
    const key = generateApiKey();
    const row = await insertApiKey(trx, {
      id: randomUUID(),
      orgId: org.id,
      agentId: null,
      name: 'First key',
      prefix: key.prefix,
      hash: key.hash,
      scopes: SCOPES as readonly Scope[],
    });
    let callbackSecret: string | undefined;
    if (box) {
      callbackSecret = generateSigningSecret();
      await trx.insertInto('signing_secrets').values({ id: randomUUID(), org_id: org.id, owner: CALLBACK_SECRET_OWNER, secret: box.seal(callbackSecret), created_at: new Date() }).execute();
    }
    return { org, apiKey: key.key, apiKeyRow: row, callbackSecret };
  });
}

export async function createEchoAgent(db: Kysely<Database>, orgId: string, name: string): Promise<Agent> {
  return insertAgent(db, {
    id: randomUUID(),
    orgId,
    name,
    instructions: 'Repeat the message back.',
    provider: { kind: 'echo' },
  });
}
