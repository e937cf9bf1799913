import { randomUUID } from 'node:crypto';
import { insertAgent, listAgents, softDeleteAgent, updateAgent } from '../../db/agents.js';
import type { AgentProvider } from '../../db/schema.js';
import { AppError, invalid, notFound } from '../../errors.js';
import { publicModelProviders } from '../../outbound/modelProviders.js';
import { sealHeaders, type SecretBox } from '../../secrets/box.js';
import type { AppDeps } from '../context.js';
import { checkOutboundTarget } from '../outboundTarget.js';
import { authOf } from '../middleware/auth.js';
import { agentInScope } from '../policies.js';
import { route, type RouteSpec } from '../route.js';
import { pageRequest, paginated } from '../schemas.js';
import { presentAgent } from './presenter.js';
import { AgentSchema, CreateAgentBody, ListAgentsQuery, ModelProvidersSchema, UpdateAgentBody } from './schema.js';

/** Header values of an http provider and a tenant's own model API key are credentials: stored sealed, opened only to call the agent. */
function sealProvider(box: SecretBox, provider: AgentProvider): AgentProvider {
  if (provider.kind === 'http' && provider.headers) return { ...provider, headers: sealHeaders(box, provider.headers) };
  if (provider.kind === 'openai' && provider.api_key !== undefined) return { ...provider, api_key: box.seal(provider.api_key) };
  return provider;
}

/**
 * What the schema cannot know: an operator provider must exist (and offer the model); a
 * tenant's own base_url or agent url is judged like every URL we send to (https in production,
 * no private literal) now, and again at each connection.
 */
function checkProvider(deps: AppDeps, provider: AgentProvider): void {
  if (provider.kind === 'http') return checkOutboundTarget(deps, provider.url, 'provider.url');
  if (provider.kind !== 'openai') return;
  if (provider.provider !== undefined) {
    const offered = deps.config.MODEL_PROVIDERS.find((p) => p.name === provider.provider);
    if (!offered) throw invalid({ 'provider.provider': 'is not a model provider of this deployment (GET /v1/model-providers lists them)' });
    if (offered.models.length && !offered.models.includes(provider.model)) {
      throw invalid({ 'provider.model': `is not offered by ${offered.name} (offered: ${offered.models.join(', ')})` });
    }
  }
  if (provider.base_url !== undefined) checkOutboundTarget(deps, provider.base_url, 'provider.base_url');
}

export function agentRoutes(deps: AppDeps): RouteSpec[] {
  const clock = deps.clock;
  const tag = 'Agents';
  return [
    route({
      method: 'get',
      path: '/v1/model-providers',
      operationId: 'listModelProviders',
      summary: 'List the model providers this deployment offers',
      description:
        'Names to use as `provider` in an openai agent (`{"kind":"openai","provider":"<name>","model":"…"}`), with the models each offers ' +
        '(empty: any). URLs and keys stay with the operator.',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:read' },
      responses: { 200: { description: 'The providers', schema: ModelProvidersSchema } },
      handler(ctx) {
        ctx.body = { data: publicModelProviders(deps.config) };
      },
    }),
    route({
      method: 'post',
      path: '/v1/agents',
      operationId: 'createAgent',
      summary: 'Create an agent',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:write' },
      body: CreateAgentBody,
      responses: { 201: { description: 'The agent', schema: AgentSchema, headers: { Location: 'URL of the agent' } } },
      async handler(ctx, { body }) {
        const auth = authOf(ctx);
        if (auth.agentId) throw new AppError(403, 'FORBIDDEN', 'An agent-scoped API key cannot create agents');
        checkProvider(deps, body.provider);
        const agent = await insertAgent(deps.db, { id: randomUUID(), orgId: auth.orgId, ...body, provider: sealProvider(deps.secrets, body.provider) }, clock());
        ctx.status = 201;
        ctx.set('Location', `/v1/agents/${agent.id}`);
        ctx.body = presentAgent(agent);
      },
    }),
    route({
      method: 'get',
      path: '/v1/agents',
      operationId: 'listAgents',
      summary: 'List agents, newest first',
      description: 'An agent-scoped key sees only its own agent.',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:read' },
      query: ListAgentsQuery,
      responses: { 200: { description: 'A page of agents', schema: paginated(AgentSchema) } },
      async handler(ctx, { query }) {
        const auth = authOf(ctx);
        const { rows, pagination } = await listAgents(deps.db, auth.orgId, { agentId: auth.agentId }, pageRequest(query));
        ctx.body = { data: rows.map(presentAgent), pagination };
      },
    }),
    route({
      method: 'get',
      path: '/v1/agents/:id',
      operationId: 'getAgent',
      summary: 'Get an agent',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:read' },
      responses: { 200: { description: 'The agent', schema: AgentSchema } },
      async handler(ctx) {
        ctx.body = presentAgent(await agentInScope(deps, ctx, ctx.params.id));
      },
    }),
    route({
      method: 'patch',
      path: '/v1/agents/:id',
      operationId: 'updateAgent',
      summary: 'Update an agent',
      description: 'Only the fields sent change; `provider` and `metadata` are replaced whole.',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:write' },
      body: UpdateAgentBody,
      responses: { 200: { description: 'The updated agent', schema: AgentSchema } },
      async handler(ctx, { body }) {
        const agent = await agentInScope(deps, ctx, ctx.params.id);
        if (body.provider) checkProvider(deps, body.provider);
        const updated = await updateAgent(
          deps.db,
          agent.org_id,
          agent.id,
          body.provider ? { ...body, provider: sealProvider(deps.secrets, body.provider) } : body,
          clock(),
        );
        if (!updated) throw notFound('Agent');
        ctx.body = presentAgent(updated);
      },
    }),
    route({
      method: 'delete',
      path: '/v1/agents/:id',
      operationId: 'deleteAgent',
      summary: 'Delete an agent',
      description:
        'Soft delete: the agent and its triggers stop working and keys scoped to it are revoked; its runs stay readable with an org-wide key.',
      tag,
      auth: { kind: 'apiKey', scope: 'agents:write' },
      responses: { 204: { description: 'Deleted' } },
      async handler(ctx) {
        const agent = await agentInScope(deps, ctx, ctx.params.id);
        if (!(await softDeleteAgent(deps.db, agent.org_id, agent.id, clock()))) throw notFound('Agent');
        ctx.status = 204;
      },
    }),
  ];
}
