import { newestFirstPage } from '../../db/queries.js';
import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { EndpointCapReached, withinActiveEndpointCap } from '../../db/endpoints.js';
import type { Database, Delivery, Endpoint } from '../../db/schema.js';
import { classify, describeOutcome } from '../../domain/deliveryPolicy.js';
import { maskUrlCredentials } from '../../domain/urlCredentials.js';
import { deliveryBody, endpointSecretOwner, webhookMessageId } from '../../domain/deliveryPayload.js';
import { AppError, notFound } from '../../errors.js';
import { webhookHeaders } from '../../outbound/signing.js';
import { openHeaders, sealHeaders } from '../../secrets/box.js';
import { activeSecrets, rotateSecret } from '../../services/signingSecrets.js';
import type { AppContext, AppDeps, AuthContext } from '../context.js';
import { checkOutboundTarget } from '../outboundTarget.js';
import { authOf } from '../middleware/auth.js';
import { route, type RouteSpec } from '../route.js';
import { paginated, pagination } from '../schemas.js';
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

const invalid = (details: Record<string, string>) => new AppError(422, 'VALIDATION_FAILED', 'The request is invalid', details);

async function healthOf(db: Kysely<Database>, endpoint: Endpoint) {
  const row = await db
    .selectFrom('deliveries')
    .select([
      sql<string>`count(*)`.as('total'),
      sql<string>`count(*) filter (where status = 'succeeded')`.as('succeeded'),
      sql<string>`count(*) filter (where status = 'failed')`.as('failed'),
    ])
    .where('endpoint_id', '=', endpoint.id)
    .where('created_at', '>', sql<Date>`now() - interval '24 hours'`)
    .executeTakeFirstOrThrow();
  const succeeded = Number(row.succeeded);
  const failed = Number(row.failed);
  return {
    deliveries_24h: Number(row.total),
    succeeded_24h: succeeded,
    failed_24h: failed,
    success_rate_24h: succeeded + failed ? succeeded / (succeeded + failed) : null,
    consecutive_failures: endpoint.consecutive_failures,
  };
}

export async function presentEndpoint(db: Kysely<Database>, endpoint: Endpoint) {
  return {
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
    health: await healthOf(db, endpoint),
  };
}

export async function presentDeliveries(db: Kysely<Database>, deliveries: Delivery[]) {
  const attempts = deliveries.length
    ? await db.selectFrom('delivery_attempts').selectAll().where('delivery_id', 'in', deliveries.map((d) => d.id)).orderBy('attempt').execute()
    : [];
  return deliveries.map((d) => ({
    id: d.id,
    kind: d.kind,
    event_id: d.event_id,
    endpoint_id: d.endpoint_id,
    run_id: d.run_id,
    url: maskUrlCredentials(d.url),
    message_id: d.message_id,
    status: d.status,
    attempts: attempts
      .filter((a) => a.delivery_id === d.id)
      .map((a) => ({
        attempt: a.attempt,
        started_at: a.started_at.toISOString(),
        status_code: a.status_code,
        latency_ms: a.latency_ms,
        response_excerpt: a.response_excerpt,
        error: a.error,
        succeeded: a.succeeded,
      })),
    throttled_ms: d.throttled_ms,
    created_at: d.created_at.toISOString(),
    updated_at: d.updated_at.toISOString(),
  }));
}

/** An agent-scoped key manages only endpoints scoped to exactly its agent. */
export function canManageEndpoint(auth: AuthContext, endpoint: Pick<Endpoint, 'agent_ids'>): boolean {
  return !auth.agentId || (endpoint.agent_ids.length === 1 && endpoint.agent_ids[0] === auth.agentId);
}

async function endpointInScope(deps: AppDeps, ctx: AppContext) {
  const auth = authOf(ctx);
  const endpoint = await deps.db
    .selectFrom('endpoints')
    .selectAll()
    .where('id', '=', resourceId(ctx.params.id, 'Endpoint'))
    .where('org_id', '=', auth.orgId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!endpoint || !canManageEndpoint(auth, endpoint)) throw notFound('Endpoint');
  return endpoint;
}

export function endpointRoutes(deps: AppDeps): RouteSpec[] {
  const clock = deps.clock ?? (() => new Date());
  const tag = 'Endpoints';

  /** URL rules shared with callbacks; agents must be the caller's. */
  async function checkEndpoint(ctx: AppContext, body: { url?: string; agent_ids?: string[] }) {
    const auth = authOf(ctx);
    if (body.url) checkOutboundTarget(deps, body.url, 'url');
    if (body.agent_ids?.length) {
      if (auth.agentId && body.agent_ids.some((a) => a !== auth.agentId)) throw invalid({ agent_ids: 'an agent-scoped key can only name its own agent' });
      const found = await deps.db.selectFrom('agents').select('id').where('org_id', '=', auth.orgId).where('id', 'in', body.agent_ids).where('deleted_at', 'is', null).execute();
      if (found.length !== new Set(body.agent_ids).size) throw invalid({ agent_ids: 'names an agent that does not exist' });
    }
  }

  /** The write, counted against MAX_ENDPOINTS_PER_ORG under the org's endpoint lock when it leaves the endpoint active. */
  async function capped<T>(orgId: string, enabled: boolean, self: string | null, write: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    if (!enabled) return write(deps.db);
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
        const endpoint = await capped(auth.orgId, body.enabled, null, (db) => db
          .insertInto('endpoints')
          .values({
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
          })
          .returningAll()
          .executeTakeFirstOrThrow());
        const { secret } = await rotateSecret(deps.db, deps.secrets, auth.orgId, endpointSecretOwner(endpoint.id), now, 0);
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
        let base = deps.db.selectFrom('endpoints').where('org_id', '=', auth.orgId).where('deleted_at', 'is', null);
        const agentId = auth.agentId ?? query.agent_id;
        if (auth.agentId) base = base.where(sql<boolean>`agent_ids = array[${auth.agentId}]::uuid[]`);
        else if (agentId) base = base.where((eb) => eb.or([sql<boolean>`cardinality(agent_ids) = 0`, sql<boolean>`${agentId}::uuid = any(agent_ids)`]));
        const { rows, total } = await newestFirstPage(base, query);
        ctx.body = { data: await Promise.all(rows.map((e) => presentEndpoint(deps.db, e))), pagination: pagination(query.page, query.limit, total) };
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
        const updated = await capped(auth.orgId, body.enabled ?? endpoint.enabled, endpoint.id, (db) => db
          .updateTable('endpoints')
          .set({
            ...rest,
            ...(headers ? { headers: JSON.stringify(sealHeaders(deps.secrets, headers)) } : {}),
            ...(reEnabled ? { disabled_reason: null, consecutive_failures: 0, failing_since: null } : {}),
            updated_at: clock(),
          })
          .where('id', '=', endpoint.id)
          .returningAll()
          .executeTakeFirstOrThrow());
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
        await deps.db.updateTable('endpoints').set({ deleted_at: clock(), enabled: false, updated_at: clock() }).where('id', '=', endpoint.id).execute();
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
        const body = deliveryBody(event, endpoint);
        const secrets = await activeSecrets(deps.db, deps.secrets, endpoint.org_id, endpointSecretOwner(endpoint.id), now);
        const response = await deps.http.send({
          url: endpoint.url,
          method: 'POST',
          headers: webhookHeaders({ msgId: webhookMessageId(event.id), timestamp: now, body, secrets, customHeaders: openHeaders(deps.secrets, endpoint.headers) }),
          body,
          timeoutMs: endpoint.timeout_seconds * 1000,
          verifyTls: endpoint.verify_ssl,
        });
        ctx.body = {
          success: classify(response) === 'succeeded',
          status_code: response.status,
          // Seed 002's camelCase name, kept beside the snake_case one every other field uses.
          statusCode: response.status,
          error: describeOutcome(response, endpoint.url),
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
        let base = deps.db.selectFrom('deliveries').where('endpoint_id', '=', endpoint.id);
        if (query.status) base = base.where('status', '=', query.status);
        const { rows, total } = await newestFirstPage(base, query);
        ctx.body = { data: await presentDeliveries(deps.db, rows), pagination: pagination(query.page, query.limit, total) };
      },
    }),
  ];
}
