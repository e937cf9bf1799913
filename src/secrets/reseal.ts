import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AgentProvider } from '../db/schema.js';
import type { SecretBox } from './box.js';

export interface ResealCounts {
  signing_secrets: number;
  triggers: number;
  endpoint_headers: number;
  /** Agents whose credentials (http header values, an openai api_key) were resealed. */
  agent_headers: number;
}

/**
 * Seals every stored secret that is still plaintext (written before SECRETS_KEY was set) or
 * sealed with an older key, under the current SECRETS_KEY: run it after setting or rotating
 * the key, then the previous key can leave SECRETS_KEY_PREVIOUS. Idempotent; each update only
 * applies if the row still holds the value that was read, so it is safe beside a running stack.
 */
export async function resealSecrets(db: Kysely<Database>, box: SecretBox): Promise<ResealCounts> {
  const counts: ResealCounts = { signing_secrets: 0, triggers: 0, endpoint_headers: 0, agent_headers: 0 };
  if (!box.encrypts) throw new Error('SECRETS_KEY is not set: there is no key to seal with');
  const reseal = (stored: string) => box.seal(box.open(stored));

  for (const row of await db.selectFrom('signing_secrets').select(['id', 'secret']).execute()) {
    if (!box.needsReseal(row.secret)) continue;
    const done = await db.updateTable('signing_secrets').set({ secret: reseal(row.secret) }).where('id', '=', row.id).where('secret', '=', row.secret).executeTakeFirst();
    counts.signing_secrets += Number(done.numUpdatedRows);
  }

  for (const row of await db.selectFrom('triggers').select(['id', 'secret']).where('secret', 'is not', null).execute()) {
    if (!row.secret || !box.needsReseal(row.secret)) continue;
    const done = await db.updateTable('triggers').set({ secret: reseal(row.secret) }).where('id', '=', row.id).where('secret', '=', row.secret).executeTakeFirst();
    counts.triggers += Number(done.numUpdatedRows);
  }

  for (const row of await db.selectFrom('endpoints').select(['id', 'headers']).execute()) {
    const values = Object.values(row.headers);
    if (!values.some((v) => box.needsReseal(v))) continue;
    const sealed = Object.fromEntries(Object.entries(row.headers).map(([name, v]) => [name, box.needsReseal(v) ? reseal(v) : v]));
    const done = await db
      .updateTable('endpoints')
      .set({ headers: JSON.stringify(sealed) })
      .where('id', '=', row.id)
      .where('headers', '=', JSON.stringify(row.headers) as never)
      .executeTakeFirst();
    counts.endpoint_headers += Number(done.numUpdatedRows);
  }

  // Agent credentials: an http provider's header values and an openai provider's own api_key.
  for (const row of await db.selectFrom('agents').select(['id', 'provider']).execute()) {
    const provider = row.provider as AgentProvider;
    let resealed: AgentProvider;
    if (provider.kind === 'http' && provider.headers) {
      if (!Object.values(provider.headers).some((v) => box.needsReseal(v))) continue;
      resealed = { ...provider, headers: Object.fromEntries(Object.entries(provider.headers).map(([name, v]) => [name, box.needsReseal(v) ? reseal(v) : v])) };
    } else if (provider.kind === 'openai' && provider.api_key !== undefined) {
      if (!box.needsReseal(provider.api_key)) continue;
      resealed = { ...provider, api_key: reseal(provider.api_key) };
    } else continue;
    const done = await db
      .updateTable('agents')
      .set({ provider: JSON.stringify(resealed) })
      .where('id', '=', row.id)
      .where('provider', '=', JSON.stringify(row.provider) as never)
      .executeTakeFirst();
    counts.agent_headers += Number(done.numUpdatedRows);
  }
  return counts;
}
