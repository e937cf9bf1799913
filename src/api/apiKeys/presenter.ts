import type { z } from 'zod';
import type { ApiKey } from '../../db/schema.js';
import type { ApiKeySchema } from './schema.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function presentApiKey(key: ApiKey): z.input<typeof ApiKeySchema> {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    agent_id: key.agent_id,
    scopes: key.scopes as z.input<typeof ApiKeySchema>['scopes'],
    created_at: key.created_at.toISOString(),
    last_used_at: iso(key.last_used_at),
    revoked_at: iso(key.revoked_at),
  };
}
