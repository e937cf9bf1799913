import { randomUUID } from 'node:crypto';
import type { Transaction } from 'kysely';
import { findLiveAgentIds } from '../../db/agents.js';
import { listEndpointDeliveries } from '../../db/deliveries.js';
import {
  deliveryCounts24h,
  EndpointCapReached,
  findEndpoint,
  type EndpointHealthCounts,
  insertEndpoint,
  listEndpoints,
  softDeleteEndpoint,
  updateEndpoint,
  withinActiveEndpointCap,
} from '../../db/endpoints.js';
import { inTransaction, type Db } from '../../db/executor.js';
import type { Database, Endpoint } from '../../db/schema.js';
import { maskUrlCredentials } from '../../domain/urlCredentials.js';
import { deliveryBody, endpointSecretOwner, messageId } from '../../domain/deliveryPayload.js';
import { AppError, invalid, notFound } from '../../errors.js';
import { openHeaders, sealHeaders } from '../../secrets/box.js';
import { rotateSecret } from '../../services/signingSecrets.js';
import { sendSignedAttempt } from '../../../activities/signedAttempt.js';
import type { AppContext, AppDeps } from '../context.js';
import { presentDeliveries } from '../deliveries/presenter.js';
import { checkOutboundTarget } from '../outboundTarget.js';
import { authOf } from '../middleware/auth.js';
import { canManageEndpoint } from '../policies.js';
import { route, type RouteSpec } from '../route.js';
import { pageRequest, paginated } from '../schemas.js';
import { resourceId } from '../validate.js';
import {
  CreateEndpointBody,
  CreatedEndpointSchema,
  DeliverySchema,
  EndpointSchema,
  ListDeliveriesQuery,
  ListEndpointsQuery,
  RotateSecretBody,
  TestResultSchema,
  UpdateEndpointBody,
} from './schema.js';

function presentHealth(endpoint: Endpoint, counts: EndpointHealthCounts | undefined) {
  const succeeded = counts?.succeeded ?? 0;
  const failed = counts?.failed ?? 0;
  return {
    deliveries_24h: counts?.total ?? 0,
    succeeded_24h: succeeded,
    failed_24h: failed,
    success_rate_24h: succeeded + failed ? succeeded / (succeeded + failed) : null,
    consecutive_failures: endpoint.consecutive_failures,
  };
}

/** Endpoints as the API shows them, with their delivery health: one query for the whole page. */
export async function presentEndpoints(db: Db, endpoints: Endpoint[]) {
  const counts = await deliveryCounts24h(db, endpoints.map((e) => e.id));
  return endpoints.map((endpoint) => ({
    id: endpoint.id,
    url: maskUrlCredentials(endpoint.url),
    name: endpoint.name,
    description: endpoint.description,
    events: endpoint.events,
    agent_ids: endpoint.agent_ids,
    enabled: endpoint.enabled,
    disabled_reason: endpoint.disabled_reason,
    api_version: endpoint.api_version,
    // Custom header values are often credentials: write-only.
    headers: Object.fromEntries(Object.keys(endpoint.headers).map((name) => [name, '***'])),
    verify_ssl: endpoint.verify_ssl,
    timeout_seconds: endpoint.timeout_seconds,
    max_retries: endpoint.max_retries,
    rate_limit_per_second: endpoint.rate_limit_per_second,
    created_at: endpoint.created_at.toISOString(),
    updated_at: endpoint.updated_at.toISOString(),
    last_triggered_at: endpoint.last_triggered_at?.toISOString() ?? null,
    health: presentHealth(endpoint, counts.get(endpoint.id)),
  }));
}

export async function presentEndpoint(db: Db, endpoint: Endpoint) {
  return (await presentEndpoints(db, [endpoint]))[0]!;
}

async function endpointInScope(deps: AppDeps, ctx: AppContext) {
  const auth = authOf(ctx);
  const endpoint = await findEndpoint(deps.db, auth.orgId, resourceId(ctx.params.id, 'Endpoint'));
  if (!endpoint || !canManageEndpoint(auth, endpoint)) throw notFound('Endpoint');
  return endpoint;
}

export function endpointRoutes(deps: AppDeps): RouteSpec[] {
  const clock = deps.clock;
  const tag = 'Endpoints';

  /** URL rules shared with callbacks; agents must be the caller's. */
  async function checkEndpoint(ctx: AppContext, body: { url?: string; agent_ids?: string[] }) {
    const auth = authOf(ctx);
    if (body.url) checkOutboundTarget(deps, body.url, 'url');
    if (body.agent_ids?.length) {
      if (auth.agentId && body.agent_ids.some((a) => a !== auth.agentId)) throw invalid({ agent_ids: 'an agent-scoped key can only name its own agent' });
      const found = await findLiveAgentIds(deps.db, auth.orgId, body.agent_ids);
      if (found.length !== new Set(body.agent_ids).size) throw invalid({ agent_ids: 'names an agent that does not exist' });
    }
  }

  /**
   * The write, in one transaction, counted against MAX_ENDPOINTS_PER_ORG under the org's
   * endpoint lock when it leaves the endpoint active.
   */
  async function capped<T>(orgId: string, enabled: boolean, self: string | null, write: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    if (!enabled) return inTransaction(deps.db, write);
    try {
      return await withinActiveEndpointCap(deps.db, orgId, deps.config.MAX_ENDPOINTS_PER_ORG, self, write);
    } catch (err) {
      if (!(err instanceof EndpointCapReached)) throw err;
      throw new AppError(409, 'LIMIT_EXCEEDED', `An organization can have at most ${err.limit} active endpoints`);
    }
  }

  return [
    route({
      method: 'post',
      path: '/v1/endpoints',
      operationId: 'createEndpoint',
      summary: 'Subscribe an HTTPS endpoint to event types',
      description: 'The signing secret is returned only in this response.',
      tag,
      auth: { kind: 'apiKey', scope: 'endpoints:write' },
      body: CreateEndpointBody,
      errors: [409],
      responses: { 201: { description: 'The endpoint with its signing secret', schema: CreatedEndpointSchema } },
      async handler(ctx, { body }) {
        const auth = authOf(ctx);
        const agentIds = auth.agentId ? [auth.agentId] : body.agent_ids;
        await checkEndpoint(ctx, { ...body, agent_ids: agentIds });
        const now = clock();
        // The endpoint and its first secret commit together: no endpoint is ever stored without one.
        const { endpoint, secret } = await capped(auth.orgId, body.enabled, null, async (trx) => {
          const created = await insertEndpoint(trx, {
            id: randomUUID(),
            org_id: auth.orgId,
            url: body.url,
            name: body.name ?? null,
            description: body.description ?? null,
            events: body.events,
            agent_ids: agentIds,
            enabled: body.enabled,
            api_version: body.api_version,
            headers: JSON.stringify(sealHeaders(deps.secrets, body.headers)),
            verify_ssl: body.verify_ssl,
            timeout_seconds: body.timeout_seconds,
            max_retries: body.max_retries,
            rate_limit_per_second: body.rate_limit_per_second,
            updated_at: now,
          });
          const rotated = await rotateSecret(trx, deps.secrets, auth.orgId, endpointSecretOwner(created.id), now, 0);
          return { endpoint: created, secret: rotated.secret };
        });
        ctx.status = 201;
        ctx.set('Cache-Control', 'no-store');
        ctx.set('Location', `/v1/endpoints/${endpoint.id}`);
        ctx.body = { ...(await presentEndpoint(deps.db, endpoint)), secret };
      },
    }),
    route({
      method: 'get',
      path: '/v1/endpoints',
      operationId: 'listEndpoints',
      summary: 'List endpoints, newest first',
      tag,
      auth: { kind: 'apiKey', scope: 'endpoints:read' },
      query: ListEndpointsQuery,
      responses: { 200: { description: 'A page of endpoints', schema: paginated(EndpointSchema) } },
      async handler(ctx, { query }) {
        const auth = authOf(ctx);
        const filter = { scopedAgentId: auth.agentId, agentId: query.agent_id ?? null };
        const { rows, pagination } = await listEndpoints(deps.db, auth.orgId, filter, pageRequest(query));
        ctx.body = { data: await presentEndpoints(deps.db, rows), pagination };
      },
    }),
    route({
      method: 'get',
      path: '/v1/endpoints/:id',
      operationId: 'getEndpoint',
      summary: 'Get an endpoint with its delivery health',
      tag,
      auth: { kind: 'apiKey', scope: 'endpoints:read' },
      responses: { 200: { description: 'The endpoint', schema: EndpointSchema } },
      async handler(ctx) {
        ctx.body = await presentEndpoint(deps.db, await endpointInScope(deps, ctx));
      },
    }),
    route({
      method: 'patch',
      path: '/v1/endpoints/:id',
      operationId: 'updateEndpoint',
      summary: 'Update an endpoint',
      description: 'Re-enabling a disabled endpoint clears its failure streak.',
      tag,
      auth: { kind: 'apiKey', scope: 'endpoints:write' },
      body: UpdateEndpointBody,
      errors: [409],
      responses: { 200: { description: 'The updated endpoint', schema: EndpointSchema } },
      async handler(ctx, { body }) {
        const endpoint = await endpointInScope(deps, ctx);
        const auth = authOf(ctx);
        if (auth.agentId && body.agent_ids) throw invalid({ agent_ids: 'an agent-scoped key cannot change the agents' });
        await checkEndpoint(ctx, body);
        const { headers, ...rest } = body;
        const reEnabled = body.enabled === true && !endpoint.enabled;
        const updated = await capped(auth.orgId, body.enabled ?? endpoint.enabled, endpoint.id, (trx) =>
          updateEndpoint(trx, endpoint.id, {
            ...rest,
            ...(headers ? { headers: JSON.stringify(sealHeaders(deps.secrets, headers)) } : {}),
            ...(reEnabled ? { disabled_reason: null, consecutive_failures: 0, failing_since: null } : {}),
            updated_at: clock(),
          }),
        );
        ctx.body = await presentEndpoint(deps.db, updated);
      },
    }),
    route({
      method: 'delete',
      path: '/v1/endpoints/:id',
      operationId: 'deleteEndpoint',
      summary: 'Delete an endpoint',
      description: 'Pending deliveries to it stop; its delivery log stays readable through events.',
      tag,
      auth: { kind: 'apiKey', scope: 'endpoints:write' },
      responses: { 204: { description: 'Deleted' } },
      async handler(ctx) {
        const endpoint = await endpointInScope(deps, ctx);
        await softDeleteEndpoint(deps.db, endpoint.id, clock());
        ctx.status = 204;
      },
    }),
    route({
      method: 'post',
      path: '/v1/endpoints/:id/rotate-secret',
      operationId: 'rotateEndpointSecret',
      summary: 'Rotate an endpoint\'s signing secret',
      description:
        'Deliveries are signed with both the old and the new secret during the grace period (default 24 h): `webhook-signature` lists both, ' +
        '`X-Webhook-Signature` is the hex signature with the new secret and `X-Webhook-Signature-Previous` the one with the old. ' +
        'With `grace_seconds: 0` the old secret stops at once and exactly one remains, even when rotations race.',
      tag,
      auth: { kind: 'apiKey', scope: 'endpoints:write' },
      body: RotateSecretBody,
      responses: {
        200: {
          description: 'The new secret, shown once',
          schema: CreatedEndpointSchema.pick({ secret: true }).extend({ previous_valid_until: EndpointSchema.shape.created_at.nullable() }),
        },
      },
      async handler(ctx, { body }) {
        const endpoint = await endpointInScope(deps, ctx);
        const rotated = await rotateSecret(deps.db, deps.secrets, endpoint.org_id, endpointSecretOwner(endpoint.id), clock(), body.grace_seconds * 1000);
        ctx.set('Cache-Control', 'no-store');
        ctx.body = { secret: rotated.secret, previous_valid_until: rotated.previousValidUntil?.toISOString() ?? null };
      },
    }),
    route({
      method: 'post',
      path: '/v1/endpoints/:id/test',
      operationId: 'testEndpoint',
      summary: 'Send a signed test.ping now and report the outcome',
      tag,
      auth: { kind: 'apiKey', scope: 'endpoints:write' },
      responses: { 200: { description: 'What the endpoint answered', schema: TestResultSchema } },
      async handler(ctx) {
        const endpoint = await endpointInScope(deps, ctx);
        const now = clock();
        const event = { id: randomUUID(), type: 'test.ping', created_at: now, data: { message: 'This is a test delivery from Agent Webhooks.' } };
        // Signed and sent exactly as a delivery is; answered, not logged.
        const { response, outcome, error } = await sendSignedAttempt(
          { db: deps.db, secrets: deps.secrets, http: deps.http, clock: () => now },
          {
            kind: 'endpoint',
            orgId: endpoint.org_id,
            secretOwner: endpointSecretOwner(endpoint.id),
            url: endpoint.url,
            msgId: messageId(event.id),
            body: deliveryBody(event, endpoint),
            customHeaders: openHeaders(deps.secrets, endpoint.headers),
            timeoutMs: endpoint.timeout_seconds * 1000,
            verifyTls: endpoint.verify_ssl,
          },
        );
        ctx.body = {
          success: outcome === 'succeeded',
          status_code: response.status,
          // Seed 002's camelCase name, kept beside the snake_case one every other field uses.
          statusCode: response.status,
          error,
          latency_ms: Math.round(response.latencyMs),
        };
      },
    }),
    route({
      method: 'get',
      path: '/v1/endpoints/:id/deliveries',
      operationId: 'listEndpointDeliveries',
      summary: 'Deliveries to an endpoint with every attempt, newest first',
      tag,
      auth: { kind: 'apiKey', scope: 'endpoints:read' },
      query: ListDeliveriesQuery,
      responses: { 200: { description: 'A page of deliveries', schema: paginated(DeliverySchema) } },
      async handler(ctx, { query }) {
        const endpoint = await endpointInScope(deps, ctx);
        const { rows, pagination } = await listEndpointDeliveries(deps.db, endpoint.id, { status: query.status }, pageRequest(query));
        ctx.body = { data: await presentDeliveries(deps.db, rows), pagination };
      },
    }),
  ];
}
