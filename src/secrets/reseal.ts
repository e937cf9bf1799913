import { listAgentProviders, replaceAgentProvider } from '../db/agents.js';
import { listEndpointHeaders, replaceEndpointHeaders } from '../db/endpoints.js';
import type { Db } from '../db/executor.js';
import type { AgentProvider } from '../db/schema.js';
import { listSigningSecrets, replaceSigningSecret } from '../db/signingSecrets.js';
import { listTriggerSecrets, replaceTriggerSecret } from '../db/triggers.js';
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
export async function resealSecrets(db: Db, box: SecretBox): Promise<ResealCounts> {
  const counts: ResealCounts = { signing_secrets: 0, triggers: 0, endpoint_headers: 0, agent_headers: 0 };
  if (!box.encrypts) throw new Error('SECRETS_KEY is not set: there is no key to seal with');
  const reseal = (stored: string) => box.seal(box.open(stored));

  for (const row of await listSigningSecrets(db)) {
    if (!box.needsReseal(row.secret)) continue;
    counts.signing_secrets += await replaceSigningSecret(db, row.id, row.secret, reseal(row.secret));
  }

  for (const row of await listTriggerSecrets(db)) {
    if (!row.secret || !box.needsReseal(row.secret)) continue;
    counts.triggers += await replaceTriggerSecret(db, row.id, row.secret, reseal(row.secret));
  }

  for (const row of await listEndpointHeaders(db)) {
    const values = Object.values(row.headers);
    if (!values.some((v) => box.needsReseal(v))) continue;
    const sealed = Object.fromEntries(Object.entries(row.headers).map(([name, v]) => [name, box.needsReseal(v) ? reseal(v) : v]));
    counts.endpoint_headers += await replaceEndpointHeaders(db, row.id, row.headers, sealed);
  }

  // Agent credentials: an http provider's header values and an openai provider's own api_key.
  for (const row of await listAgentProviders(db)) {
    const provider = row.provider as AgentProvider;
    let resealed: AgentProvider;
    if (provider.kind === 'http' && provider.headers) {
      if (!Object.values(provider.headers).some((v) => box.needsReseal(v))) continue;
      resealed = { ...provider, headers: Object.fromEntries(Object.entries(provider.headers).map(([name, v]) => [name, box.needsReseal(v) ? reseal(v) : v])) };
    } else if (provider.kind === 'openai' && provider.api_key !== undefined) {
      if (!box.needsReseal(provider.api_key)) continue;
      resealed = { ...provider, api_key: reseal(provider.api_key) };
    } else continue;
    counts.agent_headers += await replaceAgentProvider(db, row.id, row.provider, resealed);
  }
  return counts;
}
