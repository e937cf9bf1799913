import { randomBytes, randomUUID } from 'node:crypto';
import { publicUrl } from '../../config.js';
import type { InboundWebhook } from '../../db/schema.js';
import { findWebhook, insertWebhook, listWebhooks, updateWebhook } from '../../db/webhooks.js';
import { hashSecret } from '../../domain/apiKeys.js';
import { maskUrlCredentials } from '../../domain/urlCredentials.js';
import { notFound } from '../../errors.js';
import type { AppContext, AppDeps } from '../context.js';
import { checkOutboundTarget } from '../outboundTarget.js';
import { authOf } from '../middleware/auth.js';
import { agentInScope, canSeeAgent } from '../policies.js';
import { route, type RouteSpec } from '../route.js';
import { pageRequest, paginated } from '../schemas.js';
import { resourceId } from '../validate.js';
import { CreateWebhookBody, ListWebhooksQuery, UpdateWebhookBody, WebhookSchema, WebhookWithTokenSchema } from './schema.js';

export const TOKEN_PREFIX = 'whk_';

/** `whk_` + 32 random bytes (base64url): the token is the whole credential of the URL. */
export function generateWebhookToken() {
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  return { token, hash: hashSecret(token), prefix: `${token.slice(0, 12)}...` };
}

export function webhookUrl(deps: AppDeps, token: string) {
  return `${publicUrl(deps.config)}/api/webhook/${token}`;
}

function presentWebhook(webhook: InboundWebhook) {
  return {
    id: webhook.id,
    agent_id: webhook.agent_id,
    name: webhook.name,
    token_prefix: webhook.token_prefix,
    is_active: webhook.is_active,
    outgoing_url: maskUrlCredentials(webhook.outgoing_url),
    rate_limit_per_minute: webhook.rate_limit_per_minute,
    sync_timeout_status: webhook.sync_timeout_status,
    created_at: webhook.created_at.toISOString(),
    updated_at: webhook.updated_at.toISOString(),
    last_used_at: webhook.last_used_at?.toISOString() ?? null,
  };
}

async function webhookInScope(deps: AppDeps, ctx: AppContext) {
  const auth = authOf(ctx);
  const webhook = await findWebhook(deps.db, auth.orgId, resourceId(ctx.params.id, 'Webhook'));
  if (!webhook || !canSeeAgent(auth, webhook.agent_id)) throw notFound('Webhook');
  return webhook;
}

/** outgoing_url gets the same checks as a run's callback_url (and the same connect-time guard). */
function checkOutgoingUrl(deps: AppDeps, url: string | null | undefined) {
  if (url) checkOutboundTarget(deps, url, 'outgoing_url');
}

export function webhookRoutes(deps: AppDeps): RouteSpec[] {
  const clock = deps.clock;
  const tag = 'Inbound webhooks';
  return [
    route({
      method: 'post',
      path: '/v1/agents/:id/webhooks',
      operationId: 'createWebhook',
      summary: 'Create a token URL for an agent',
      description: 'Anyone holding the URL can message the agent (POST /api/webhook/{token}); the token is shown only here.',
      tag,
      auth: { kind: 'apiKey', scope: 'webhooks:write' },
      body: CreateWebhookBody,
      responses: { 201: { description: 'The webhook with its token, shown once', schema: WebhookWithTokenSchema } },
      async handler(ctx, { body }) {
        const agent = await agentInScope(deps, ctx, ctx.params.id);
        checkOutgoingUrl(deps, body.outgoing_url);
        const { token, hash, prefix } = generateWebhookToken();
        const webhook = await insertWebhook(deps.db, {
          id: randomUUID(),
          org_id: agent.org_id,
          agent_id: agent.id,
          name: body.name,
          token_hash: hash,
          token_prefix: prefix,
          outgoing_url: body.outgoing_url ?? null,
          rate_limit_per_minute: body.rate_limit_per_minute,
          sync_timeout_status: body.sync_timeout_status,
          updated_at: clock(),
        });
        ctx.status = 201;
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { ...presentWebhook(webhook), token, webhook_url: webhookUrl(deps, token) };
      },
    }),
    route({
      method: 'get',
      path: '/v1/agents/:id/webhooks',
      operationId: 'listWebhooks',
      summary: 'List an agent\'s token URLs (by prefix), newest first',
      tag,
      auth: { kind: 'apiKey', scope: 'webhooks:read' },
      query: ListWebhooksQuery,
      responses: { 200: { description: 'A page of webhooks', schema: paginated(WebhookSchema) } },
      async handler(ctx, { query }) {
        const agent = await agentInScope(deps, ctx, ctx.params.id);
        const { rows, pagination } = await listWebhooks(deps.db, agent.id, pageRequest(query));
        ctx.body = { data: rows.map(presentWebhook), pagination };
      },
    }),
    route({
      method: 'patch',
      path: '/v1/webhooks/:id',
      operationId: 'updateWebhook',
      summary: 'Rename, pause (is_active), re-target or re-limit a token URL',
      tag,
      auth: { kind: 'apiKey', scope: 'webhooks:write' },
      body: UpdateWebhookBody,
      responses: { 200: { description: 'The updated webhook', schema: WebhookSchema } },
      async handler(ctx, { body }) {
        const webhook = await webhookInScope(deps, ctx);
        checkOutgoingUrl(deps, body.outgoing_url);
        ctx.body = presentWebhook(await updateWebhook(deps.db, webhook.id, { ...body, updated_at: clock() }));
      },
    }),
    route({
      method: 'delete',
      path: '/v1/webhooks/:id',
      operationId: 'deleteWebhook',
      summary: 'Delete a token URL',
      description: 'The URL stops working at once; runs it started stay readable.',
      tag,
      auth: { kind: 'apiKey', scope: 'webhooks:write' },
      responses: { 204: { description: 'Deleted' } },
      async handler(ctx) {
        const webhook = await webhookInScope(deps, ctx);
        await updateWebhook(deps.db, webhook.id, { deleted_at: clock(), is_active: false, updated_at: clock() });
        ctx.status = 204;
      },
    }),
    route({
      method: 'post',
      path: '/v1/webhooks/:id/regenerate',
      operationId: 'regenerateWebhookToken',
      summary: 'Replace a token URL\'s token',
      description: 'The old token stops working at once; the new one is shown only here.',
      tag,
      auth: { kind: 'apiKey', scope: 'webhooks:write' },
      responses: { 200: { description: 'The webhook with its new token', schema: WebhookWithTokenSchema } },
      async handler(ctx) {
        const webhook = await webhookInScope(deps, ctx);
        const { token, hash, prefix } = generateWebhookToken();
        const updated = await updateWebhook(deps.db, webhook.id, { token_hash: hash, token_prefix: prefix, updated_at: clock() });
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { ...presentWebhook(updated), token, webhook_url: webhookUrl(deps, token) };
      },
    }),
  ];
}
