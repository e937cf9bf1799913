import { randomUUID } from 'node:crypto';
import { findAgent } from '../../db/agents.js';
import { findApiKey, insertApiKey, listApiKeys, revokeApiKey } from '../../db/apiKeys.js';
import { emptyPage } from '../../db/pagination.js';
import { generateApiKey } from '../../domain/apiKeys.js';
import { invalid, notFound } from '../../errors.js';
import type { AppDeps } from '../context.js';
import { authOf } from '../middleware/auth.js';
import { assertGrantableScopes, canSeeAgent } from '../policies.js';
import { route, type RouteSpec } from '../route.js';
import { pageRequest, paginated } from '../schemas.js';
import { resourceId } from '../validate.js';
import { presentApiKey } from './presenter.js';
import { ApiKeySchema, CreateApiKeyBody, CreatedApiKeySchema, ListApiKeysQuery } from './schema.js';

export function apiKeyRoutes(deps: AppDeps): RouteSpec[] {
  const clock = deps.clock;
  const tag = 'API keys';
  return [
    route({
      method: 'post',
      path: '/v1/api-keys',
      operationId: 'createApiKey',
      summary: 'Create an API key',
      description:
        'The full key is in this response only; the server keeps its SHA-256. A key can grant at most the scopes of the key that creates it, ' +
        'and an agent-scoped key can only create keys for its own agent.',
      tag,
      auth: { kind: 'apiKey', scope: 'keys:write' },
      body: CreateApiKeyBody,
      responses: { 201: { description: 'The key, with its secret shown once', schema: CreatedApiKeySchema } },
      async handler(ctx, { body }) {
        const auth = authOf(ctx);
        const agentId = auth.agentId ?? body.agent_id;
        if (auth.agentId && body.agent_id && body.agent_id !== auth.agentId) throw invalid({ agent_id: 'no such agent' });
        if (agentId && !(await findAgent(deps.db, auth.orgId, agentId))) throw invalid({ agent_id: 'no such agent' });
        const scopes = body.scopes ?? [...auth.scopes];
        assertGrantableScopes(auth.scopes, scopes);
        const generated = generateApiKey();
        const row = await insertApiKey(deps.db, {
          id: randomUUID(),
          orgId: auth.orgId,
          agentId,
          name: body.name,
          prefix: generated.prefix,
          hash: generated.hash,
          scopes,
        });
        ctx.status = 201;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { ...presentApiKey(row), key: generated.key };
      },
    }),
    route({
      method: 'get',
      path: '/v1/api-keys',
      operationId: 'listApiKeys',
      summary: 'List API keys, newest first',
      description: 'Revoked keys are listed with their `revoked_at`. An agent-scoped key sees its agent\'s keys only.',
      tag,
      auth: { kind: 'apiKey', scope: 'keys:read' },
      query: ListApiKeysQuery,
      responses: { 200: { description: 'A page of keys', schema: paginated(ApiKeySchema) } },
      async handler(ctx, { query }) {
        const auth = authOf(ctx);
        if (query.agent_id && !canSeeAgent(auth, query.agent_id)) {
          ctx.body = { data: [], pagination: emptyPage(pageRequest(query)) };
          return;
        }
        const agentId = auth.agentId ?? query.agent_id ?? null;
        const { rows, pagination } = await listApiKeys(deps.db, auth.orgId, { agentId }, pageRequest(query));
        ctx.body = { data: rows.map(presentApiKey), pagination };
      },
    }),
    route({
      method: 'delete',
      path: '/v1/api-keys/:id',
      operationId: 'revokeApiKey',
      summary: 'Revoke an API key',
      description: 'Takes effect on the very next request made with the key; its open event streams (and stream tokens) end within one SSE heartbeat. Revoking twice is harmless.',
      tag,
      auth: { kind: 'apiKey', scope: 'keys:write' },
      responses: { 204: { description: 'Revoked' } },
      async handler(ctx) {
        const auth = authOf(ctx);
        const key = await findApiKey(deps.db, auth.orgId, resourceId(ctx.params.id, 'API key'));
        if (!key || (auth.agentId && key.agent_id !== auth.agentId)) throw notFound('API key');
        await revokeApiKey(deps.db, auth.orgId, key.id, clock());
        ctx.status = 204;
      },
    }),
  ];
}
