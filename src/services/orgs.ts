import { randomUUID } from 'node:crypto';
import { grantCredits } from '../db/credits.js';
import { insertAgent } from '../db/agents.js';
import { insertApiKey } from '../db/apiKeys.js';
import { insertOrg } from '../db/orgs.js';
import { inTransaction, type Db } from '../db/executor.js';
import { insertSigningSecret } from '../db/signingSecrets.js';
import type { Agent, ApiKey, Org } from '../db/schema.js';
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
export async function createOrgWithKey(db: Db, input: { name: string; credits?: number }, box?: SecretBox, now: Date = new Date()): Promise<CreatedOrg> {
  return inTransaction(db, async (trx) => {
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
      await insertSigningSecret(trx, { id: randomUUID(), orgId: org.id, owner: CALLBACK_SECRET_OWNER, sealed: box.seal(callbackSecret), now });
    }
    return { org, apiKey: key.key, apiKeyRow: row, callbackSecret };
  });
}

export async function createEchoAgent(db: Db, orgId: string, name: string): Promise<Agent> {
  return insertAgent(db, {
    id: randomUUID(),
    orgId,
    name,
    instructions: 'Repeat the message back.',
    provider: { kind: 'echo' },
  });
}
