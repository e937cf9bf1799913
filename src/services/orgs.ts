import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { insertAgent, insertApiKey, insertOrg } from '../db/queries.js';
import type { Agent, Database, Org } from '../db/schema.js';
import { generateApiKey, SCOPES, type Scope } from '../domain/apiKeys.js';

export interface CreatedOrg {
  org: Org;
  /** The first key's full secret: returned once, never stored. */
  apiKey: string;
  apiKeyId: string;
}

/** An org and its first org-wide key with every scope, in one transaction. */
export async function createOrgWithKey(db: Kysely<Database>, input: { name: string }): Promise<CreatedOrg> {
  return db.transaction().execute(async (trx) => {
    const org = await insertOrg(trx, { id: randomUUID(), name: input.name });
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
    return { org, apiKey: key.key, apiKeyId: row.id };
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
