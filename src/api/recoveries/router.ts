import { randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { recoveryWorkflowId } from '../../../workflows/ids.js';
import { EndpointCapReached, withinActiveEndpointCap } from '../../db/endpoints.js';
import {
  countRecoverable,
  findLiveEndpoint,
  findOrgRecovery,
  findRunningRecovery,
  finishRecovery,
  insertRecovery,
  reenableEndpoint,
} from '../../db/recoveries.js';
import type { Database, Recovery } from '../../db/schema.js';
import { AppError, notFound } from '../../errors.js';
import { startRecovery } from '../../temporal/gateway.js';
import type { AppDeps } from '../context.js';
import { canManageEndpoint } from '../policies.js';
import { authOf } from '../middleware/auth.js';
import { route, type RouteSpec } from '../route.js';
import { resourceId } from '../validate.js';
import { RecoverEndpointBody, RecoverySchema } from './schema.js';


function presentRecovery(recovery: Recovery) {
  return {
    id: recovery.id,
    endpoint_id: recovery.endpoint_id,
    since: recovery.since.toISOString(),
    until: recovery.until.toISOString(),
    status: recovery.status,
    total: recovery.total,
    sent: recovery.sent,
    succeeded: recovery.succeeded,
    failed: recovery.failed,
    enabled_endpoint: recovery.enabled_endpoint,
    workflow_id: recoveryWorkflowId(recovery.id),
    created_at: recovery.created_at.toISOString(),
    completed_at: recovery.completed_at?.toISOString() ?? null,
  };
}

export function recoveryRoutes(deps: AppDeps): RouteSpec[] {
  const tag = 'Endpoints';
  const clock = deps.clock;

  const startRecoveryWorkflow = (recovery: Recovery) => startRecovery({ temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE }, recovery);

  return [
    route({
      method: 'post',
      path: '/v1/endpoints/:id/recover',
      operationId: 'recoverEndpoint',
      summary: 'Resend every delivery that failed in a time window (bulk recovery)',
      description:
        'Every delivery to this endpoint whose last attempt failed between `since` and `until` is sent again, each with its original `webhook-id` ' +
        '(receivers deduplicate on it: delivery is at-least-once), by one workflow that respects the endpoint\'s rate limit and in-flight bound. ' +
        'Progress at `GET /v1/recoveries/{id}`. At most one recovery runs per endpoint (409 names the running one). A disabled endpoint is ' +
        're-enabled only with `enable_endpoint: true` (409 otherwise). Resends never count toward disabling the endpoint.',
      tag,
      auth: { kind: 'apiKey', scope: 'endpoints:write' },
      body: RecoverEndpointBody,
      errors: [409, 503],
      responses: { 202: { description: 'Recovery started', schema: RecoverySchema, headers: { Location: 'The recovery\'s status URL' } } },
      async handler(ctx, { body }) {
        const auth = authOf(ctx);
        const endpoint = await findLiveEndpoint(deps.db, auth.orgId, resourceId(ctx.params.id, 'Endpoint'));
        if (!endpoint || !canManageEndpoint(auth, endpoint)) throw notFound('Endpoint');
        const now = clock();
        const since = new Date(body.since);
        const until = body.until ? new Date(body.until) : now;
        if (until.getTime() > now.getTime()) throw new AppError(422, 'VALIDATION_FAILED', 'The request is invalid', { until: 'must not be in the future' });
        if (since.getTime() > until.getTime()) throw new AppError(422, 'VALIDATION_FAILED', 'The request is invalid', { since: 'must be before until' });
        const running = await findRunningRecovery(deps.db, endpoint.id);
        if (running) {
          // Accepted by an API that died before starting its workflow: start it, so it cannot block the endpoint forever.
          await startRecoveryWorkflow(running).catch((err) => ctx.state.log.warn({ err, recovery_id: running.id }, 'could not start a running recovery\'s workflow'));
          throw new AppError(409, 'CONFLICT', 'A recovery of this endpoint is already running', undefined, undefined, { recovery_id: running.id });
        }
        if (!endpoint.enabled && !body.enable_endpoint) {
          throw new AppError(409, 'CONFLICT', 'The endpoint is disabled: pass enable_endpoint: true to re-enable it and recover');
        }
        const window = { endpointId: endpoint.id, since, until };
        const total = await countRecoverable(deps.db, window);
        let recovery: Recovery;
        try {
          const create = async (db: Kysely<Database> | Transaction<Database>) => {
            if (!endpoint.enabled) await reenableEndpoint(db, endpoint.id, now);
            return insertRecovery(db, { id: randomUUID(), orgId: auth.orgId, endpointId: endpoint.id, since, until, total, enabledEndpoint: !endpoint.enabled });
          };
          // Re-enabling counts against MAX_ENDPOINTS_PER_ORG like PATCH enabled=true.
          recovery = endpoint.enabled ? await create(deps.db) : await withinActiveEndpointCap(deps.db, auth.orgId, deps.config.MAX_ENDPOINTS_PER_ORG, endpoint.id, create);
        } catch (err) {
          if (err instanceof EndpointCapReached) throw new AppError(409, 'LIMIT_EXCEEDED', `An organization can have at most ${err.limit} active endpoints`);
          if ((err as { code?: string }).code === '23505') {
            const other = await findRunningRecovery(deps.db, endpoint.id);
            throw new AppError(409, 'CONFLICT', 'A recovery of this endpoint is already running', undefined, undefined, { recovery_id: other?.id ?? null });
          }
          throw err;
        }
        try {
          await startRecoveryWorkflow(recovery);
        } catch (err) {
          ctx.state.log.error({ err: (err as Error).cause ?? err, recovery_id: recovery.id }, 'could not start the recovery');
          await finishRecovery(deps.db, recovery.id, 'failed', null, clock()).catch(() => undefined);
          throw err; // the gateway's 503
        }
        ctx.status = 202;
        ctx.set('Location', `/v1/recoveries/${recovery.id}`);
        ctx.body = presentRecovery(recovery);
      },
    }),
    route({
      method: 'get',
      path: '/v1/recoveries/:id',
      operationId: 'getRecovery',
      summary: 'A bulk recovery\'s progress',
      description: '`sent` of `total` resent so far, how many succeeded and failed; `status` is `completed` once every delivery of the window was resent.',
      tag,
      auth: { kind: 'apiKey', scope: 'endpoints:read' },
      responses: { 200: { description: 'The recovery', schema: RecoverySchema } },
      async handler(ctx) {
        const auth = authOf(ctx);
        const recovery = await findOrgRecovery(deps.db, auth.orgId, resourceId(ctx.params.id, 'Recovery'));
        const endpoint = recovery && (await findLiveEndpoint(deps.db, auth.orgId, recovery.endpoint_id));
        // An agent-scoped key sees the recoveries of the endpoints it manages only.
        if (!recovery || (auth.agentId && (!endpoint || !canManageEndpoint(auth, endpoint)))) throw notFound('Recovery');
        ctx.body = presentRecovery(recovery);
      },
    }),
  ];
}
