import { z } from 'zod';
import { SCOPES } from '../../domain/apiKeys.js';
import { PaginationQuery, Timestamp, Uuid } from '../schemas.js';

export const ScopeSchema = z.enum(SCOPES);

export const CreateApiKeyBody = z
  .object({
    name: z.string().trim().min(1).max(100).describe('What the key is for, e.g. "Zapier production"'),
    agent_id: Uuid.nullable().default(null).describe('Scope the key to one agent; null = org-wide'),
    scopes: z
      .array(ScopeSchema)
      .min(1)
      .refine((s) => new Set(s).size === s.length, 'must not repeat a scope')
      .optional()
      .describe('Permissions; defaults to all of the calling key\'s scopes'),
  })
  .strict();

export const ListApiKeysQuery = PaginationQuery.extend({
  agent_id: Uuid.optional().describe('Only keys scoped to this agent'),
});

export const ApiKeySchema = z
  .object({
    id: Uuid,
    name: z.string(),
    prefix: z.string().describe('First 8 hex characters of the key, to recognise it'),
    agent_id: Uuid.nullable(),
    scopes: z.array(ScopeSchema),
    created_at: Timestamp,
    last_used_at: Timestamp.nullable().describe('When this key last authenticated a request, to the minute (stamped at most once a minute)'),
    revoked_at: Timestamp.nullable(),
  })
  .meta({ id: 'ApiKey' });

export const CreatedApiKeySchema = ApiKeySchema.extend({
  key: z.string().describe('The full key: shown only in this response, store it now'),
}).meta({ id: 'CreatedApiKey' });
