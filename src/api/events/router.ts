import { expandEvents } from '../../db/events.js';
import { newestFirstPage } from '../../db/queries.js';
import { WorkflowIdReusePolicy } from '@temporalio/client';
import { z } from 'zod';
import { EVENT_TYPES } from '../../domain/eventTypes.js';
import type { EventRow } from '../../db/schema.js';
import { AppError, notFound, serviceUnavailable } from '../../errors.js';
import { canManageEndpoint, presentDeliveries } from '../endpoints/router.js';
import { DeliverySchema } from '../endpoints/schema.js';
import type { AppDeps } from '../context.js';
import { authOf, canSeeAgent } from '../middleware/auth.js';
import { route, type RouteSpec } from '../route.js';
import { PaginationQuery, Timestamp, Uuid, paginated, pagination } from '../schemas.js';
import { resourceId } from '../validate.js';
import { deliveriesTaskQueue } from '../../../workflows/taskQueues.js';

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
      tag,
      auth: { kind: 'apiKey', scope: 'events:read' },
      query: ListEventsQuery,
      responses: { 200: { description: 'A page of events', schema: paginated(EventSchema) } },
      async handler(ctx, { query }) {
        const auth = authOf(ctx);
        let base = deps.db.selectFrom('events').where('org_id', '=', auth.orgId);
        const agentId = auth.agentId ?? query.agent_id;
        if (query.agent_id && !canSeeAgent(auth, query.agent_id)) {
          ctx.body = { data: [], pagination: pagination(query.page, query.limit, 0) };
          return;
        }
        if (agentId) base = base.where('agent_id', '=', agentId);
        if (query.type) base = base.where('type', '=', query.type);
        if (query.created_after) base = base.where('created_at', '>=', new Date(query.created_after));
        if (query.created_before) base = base.where('created_at', '<', new Date(query.created_before));
        const { rows, total } = await newestFirstPage(base, query);
        ctx.body = { data: (await expandEvents(deps.db, rows)).map(presentEvent), pagination: pagination(query.page, query.limit, total) };
      },
    }),
    route({
      method: 'get',
      path: '/v1/events/:id',
      operationId: 'getEvent',
      summary: 'Get an event with its deliveries and their attempts',
      tag,
      auth: { kind: 'apiKey', scope: 'events:read' },
      responses: { 200: { description: 'The event', schema: EventWithDeliveriesSchema } },
      async handler(ctx) {
        const auth = authOf(ctx);
        const event = await deps.db.selectFrom('events').selectAll().where('id', '=', resourceId(ctx.params.id, 'Event')).where('org_id', '=', auth.orgId).executeTakeFirst();
        if (!event || (auth.agentId && event.agent_id !== auth.agentId)) throw notFound('Event');
        const deliveries = await deps.db.selectFrom('deliveries').selectAll().where('event_id', '=', event.id).orderBy('created_at').execute();
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
        const delivery = await deps.db.selectFrom('deliveries').selectAll().where('id', '=', resourceId(ctx.params.id, 'Delivery')).where('org_id', '=', auth.orgId).executeTakeFirst();
        if (!delivery || delivery.kind !== 'endpoint') throw notFound('Delivery');
        const endpoint = await deps.db.selectFrom('endpoints').selectAll().where('id', '=', delivery.endpoint_id!).executeTakeFirstOrThrow();
        if (!canManageEndpoint(auth, endpoint)) throw notFound('Delivery');
        if (!endpoint.enabled || endpoint.deleted_at) throw new AppError(409, 'CONFLICT', 'The endpoint is disabled: enable it first');
        const workflowId = `redeliver-${delivery.id}-${Date.now()}`;
        try {
          await deps.temporal.withDeadline(Date.now() + 5_000, () =>
            deps.temporal.workflow.start('redeliver', {
              workflowId,
              taskQueue: deliveriesTaskQueue(deps.config.TEMPORAL_TASK_QUEUE),
              args: [{ deliveryId: delivery.id }],
              workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
              staticSummary: `Manual redelivery of ${delivery.message_id}`,
            }),
          );
        } catch (err) {
          ctx.state.log.error({ err, delivery_id: delivery.id }, 'could not start the redelivery');
          throw serviceUnavailable('The workflow engine');
        }
        ctx.status = 202;
        ctx.body = { delivery_id: delivery.id, workflow_id: workflowId };
      },
    }),
  ];
}
