import { z } from 'zod';
import { ScopeSchema } from '../apiKeys/schema.js';
import type { AppDeps } from '../context.js';
import { authOf } from '../middleware/auth.js';
import { route, type RouteSpec } from '../route.js';
import { Timestamp, Uuid } from '../schemas.js';

const MeSchema = z
  .object({
    id: Uuid.describe('The API key\'s or the portal session\'s id'),
    kind: z.enum(['api_key', 'portal_session']),
    org_id: Uuid,
    agent_id: Uuid.nullable().describe('Set when the credential is limited to one agent'),
    scopes: z.array(ScopeSchema),
    name: z.string(),
    key_prefix: z.string().optional().describe('API keys: the first 8 hex characters of the key'),
    expires_at: Timestamp.nullable().describe('When a portal session ends; null for API keys (valid until revoked)'),
  })
  .meta({ id: 'Me' });

export function meRoutes(_deps: AppDeps): RouteSpec[] {
  return [
    route({
      method: 'get',
      path: '/v1/me',
      operationId: 'getMe',
      summary: 'Describe the credential making this request',
      description: 'What the calling API key or portal session may do, so a client (the console) can hide the actions it cannot take.',
      tag: 'API keys',
      auth: { kind: 'apiKey', scope: null },
      responses: { 200: { description: 'The credential', schema: MeSchema } },
      handler(ctx) {
        const auth = authOf(ctx);
        ctx.set('Cache-Control', 'no-store');
        ctx.body = {
          id: auth.keyId,
          kind: auth.kind,
          org_id: auth.orgId,
          agent_id: auth.agentId,
          scopes: auth.scopes as z.infer<typeof ScopeSchema>[],
          name: auth.keyName,
          ...(auth.keyPrefix ? { key_prefix: auth.keyPrefix } : {}),
          expires_at: auth.expiresAt ? auth.expiresAt.toISOString() : null,
        };
      },
    }),
  ];
}
