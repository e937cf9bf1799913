import type { CreatedOrg } from '../../services/orgs.js';
import { presentApiKey } from '../apiKeys/presenter.js';

/**
 * A new org as both the admin API (`POST /v1/admin/orgs`) and the CLI (`org create`) show it:
 * one shape, so a script written against one works with the other. `api_key` is the key
 * object of `POST /v1/api-keys` (its id revokes it later) with the secret in `api_key.key`.
 */
export function presentCreatedOrg(created: CreatedOrg, balance: number) {
  return {
    org: { id: created.org.id, name: created.org.name, created_at: created.org.created_at.toISOString() },
    api_key: { ...presentApiKey(created.apiKeyRow), key: created.apiKey },
    /** The whsec_ secret that signs the org's run callbacks, so the first callback verifies. */
    callback_secret: created.callbackSecret,
    balance,
  };
}
