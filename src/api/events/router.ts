import { deliveriesOfEvent, findDelivery, nextAttemptNumber } from '../../db/deliveries.js';
import { findEndpointById } from '../../db/endpoints.js';
import { expandEvents, findEvent, listEvents } from '../../db/events.js';
import { z } from 'zod';
import { EVENT_TYPES } from '../../domain/eventTypes.js';
import { emptyPage } from '../../db/pagination.js';
import type { EventRow } from '../../db/schema.js';
import { AppError, notFound } from '../../errors.js';
import { presentDeliveries } from '../deliveries/presenter.js';
import { redeliver } from '../../temporal/gateway.js';
import { DeliverySchema } from '../endpoints/schema.js';
import type { AppDeps } from '../context.js';
import { authOf } from '../middleware/auth.js';
import { canManageEndpoint, canSeeAgent } from '../policies.js';
import { route, type RouteSpec } from '../route.js';
import { PaginationQuery, Timestamp, Uuid, pageRequest, paginated } from '../schemas.js';
import { resourceId } from '../validate.js';

const EventTypeSchema = z.object({ type: z.string(), description: z.string(), schema: z.record(z.string(), z.unknown()).describe('JSON Schema of data') }).meta({ id: 'EventType' });

const EventSchema = z
  .object({
    id: Uuid,
    type: z.string(),
    agent_id: Uuid.nullable(),
    run_id: Uuid.nullable(),
    data: z.record(z.string(), z.unknown()),
    created_at: Timestamp,
  })
  .meta({ id: 'Event' });

const EventWithDeliveriesSchema = EventSchema.extend({ deliveries: z.array(DeliverySchema) }).meta({ id: 'EventWithDeliveries' });

const ListEventsQuery = PaginationQuery.extend({
  type: z.string().max(100).optional(),
  agent_id: Uuid.optional(),
  created_after: z.iso.datetime({ offset: true }).optional(),
  created_before: z.iso.datetime({ offset: true }).optional(),
});

const presentEvent = (e: EventRow) => ({ id: e.id, type: e.type, agent_id: e.agent_id, run_id: e.run_id, data: e.data, created_at: e.created_at.toISOString() });

/** What the event log holds (issue 19: an event is stored only when someone can read it). */
const EVENT_LOG_NOTE =
  'The event log lists the events the org stored: by default those an enabled endpoint subscribed to when they happened (each with its ' +
  'deliveries), plus the account events `wallet.balance_low` and `endpoint.disabled`. An org whose operator set `event_log: "all"` ' +
  '(or EVENT_LOG=all) stores every event, read or not. Events are kept for the org\'s retention window.';

/** Catalog computed once: the JSON Schema of every event type's data. */
const catalog = Object.entries(EVENT_TYPES).map(([type, spec]) => {
  const schema = z.toJSONSchema(spec.data, { unrepresentable: 'any' }) as Record<string, unknown>;
  delete schema.$schema;
  return { type, description: spec.description, schema };
});

export function eventRoutes(deps: AppDeps): RouteSpec[] {
  const tag = 'Events';
  return [
    route({
      method: 'get',
      path: '/v1/event-types',
      operationId: 'listEventTypes',
      summary: 'The event catalog, with a JSON Schema of each type\'s data',
      tag,
      auth: { kind: 'apiKey', scope: 'events:read' },
      responses: { 200: { description: 'Every event type', schema: z.object({ data: z.array(EventTypeSchema) }) } },
      handler(ctx) {
        ctx.body = { data: catalog };
      },
    }),
    route({
      method: 'get',
      path: '/v1/events',
      operationId: 'listEvents',
      summary: 'List events, newest first',
      description: EVENT_LOG_NOTE,
      tag,
      auth: { kind: 'apiKey', scope: 'events:read' },
      query: ListEventsQuery,
      responses: { 200: { description: 'A page of events', schema: paginated(EventSchema) } },
      async handler(ctx, { query }) {
        const auth = authOf(ctx);
        const agentId = auth.agentId ?? query.agent_id;
        if (query.agent_id && !canSeeAgent(auth, query.agent_id)) {
          ctx.body = { data: [], pagination: emptyPage(pageRequest(query)) };
          return;
        }
        const filter = {
          agentId,
          type: query.type,
          createdAfter: query.created_after ? new Date(query.created_after) : undefined,
          createdBefore: query.created_before ? new Date(query.created_before) : undefined,
        };
        const { rows, pagination } = await listEvents(deps.db, auth.orgId, filter, pageRequest(query));
        ctx.body = { data: (await expandEvents(deps.db, rows)).map(presentEvent), pagination };
      },
    }),
    route({
      method: 'get',
      path: '/v1/events/:id',
      operationId: 'getEvent',
      summary: 'Get an event with its deliveries and their attempts',
      description: EVENT_LOG_NOTE,
      tag,
      auth: { kind: 'apiKey', scope: 'events:read' },
      responses: { 200: { description: 'The event', schema: EventWithDeliveriesSchema } },
      async handler(ctx) {
        const auth = authOf(ctx);
        const event = await findEvent(deps.db, auth.orgId, resourceId(ctx.params.id, 'Event'));
        if (!event || (auth.agentId && event.agent_id !== auth.agentId)) throw notFound('Event');
        const deliveries = await deliveriesOfEvent(deps.db, event.id);
        ctx.body = { ...presentEvent((await expandEvents(deps.db, [event]))[0]!), deliveries: await presentDeliveries(deps.db, deliveries) };
      },
    }),
    route({
      method: 'post',
      path: '/v1/deliveries/:id/retry',
      operationId: 'retryDelivery',
      summary: 'Send a delivery again now (same webhook-id)',
      tag,
      auth: { kind: 'apiKey', scope: 'endpoints:write' },
      errors: [409, 503],
      responses: { 202: { description: 'Re-sending; the attempt appears in the delivery log', schema: z.object({ delivery_id: Uuid, workflow_id: z.string() }) } },
      async handler(ctx) {
        const auth = authOf(ctx);
        const delivery = await findDelivery(deps.db, auth.orgId, resourceId(ctx.params.id, 'Delivery'));
        if (!delivery || delivery.kind !== 'endpoint') throw notFound('Delivery');
        const endpoint = await findEndpointById(deps.db, delivery.endpoint_id!);
        if (!canManageEndpoint(auth, endpoint)) throw notFound('Delivery');
        if (!endpoint.enabled || endpoint.deleted_at) throw new AppError(409, 'CONFLICT', 'The endpoint is disabled: enable it first');
        const attempt = await nextAttemptNumber(deps.db, delivery.id);
        const workflowId = await redeliver({ temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE }, delivery, attempt);
        ctx.status = 202;
        ctx.body = { delivery_id: delivery.id, workflow_id: workflowId };
      },
    }),
  ];
}
