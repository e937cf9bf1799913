import { randomUUID } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ensureDelivery } from '../src/db/deliveries.js';
import { findEventById, storeEvent } from '../src/db/events.js';
import type { Endpoint } from '../src/db/schema.js';
import { nextDelayMs } from '../src/domain/deliveryPolicy.js';
import { deliveryBody, endpointSecretOwner, eventMessageId } from '../src/domain/deliveryPayload.js';
import { dispatchEvent, subscribedEndpointIds } from '../src/services/eventDispatch.js';
import { openHeaders } from '../src/secrets/box.js';
import type { ActivityDeps } from './deps.js';
import { sendSignedAttempt } from './signedAttempt.js';

/** One endpoint's share of an event: what the workflow needs to schedule its delivery. */
export interface PlannedDelivery {
  deliveryId: string;
  endpointId: string;
  maxAttempts: number;
  timeoutSeconds: number;
}

export type DeliveryResult = 'succeeded' | 'skipped';

export function createDeliveryActivities(deps: ActivityDeps) {
  /** A delivery gave up for good: count it against the endpoint, and disable a hopeless one. */
  async function recordFinalFailure(endpoint: Endpoint, reason: string, forceDisable: boolean) {
    const now = deps.clock();
    const updated = await deps.db
      .updateTable('endpoints')
      .set((eb) => ({
        consecutive_failures: eb('consecutive_failures', '+', 1),
        failing_since: eb.fn.coalesce('failing_since', eb.val(now)),
        updated_at: now,
      }))
      .where('id', '=', endpoint.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const failingForADay = updated.failing_since !== null && now.getTime() - updated.failing_since.getTime() >= 24 * 3_600_000;
    if (!forceDisable && updated.consecutive_failures < deps.settings.disableAfterFailures && !failingForADay) return;
    const why = forceDisable ? reason : `${updated.consecutive_failures} deliveries in a row failed (last: ${reason})`;
    const disabled = await deps.db
      .updateTable('endpoints')
      .set({ enabled: false, disabled_reason: why, updated_at: now })
      .where('id', '=', endpoint.id)
      .where('enabled', '=', true)
      .executeTakeFirst();
    if (Number(disabled.numUpdatedRows) !== 1) return;
    // The activity logger carries the workflow id, run id and activity type with the line.
    Context.current().log.warn('endpoint disabled', { endpoint_id: endpoint.id, reason: why });
    const { event } = await storeEvent(deps.db, {
      orgId: endpoint.org_id,
      agentId: null,
      runId: null,
      type: 'endpoint.disabled',
      data: { endpoint_id: endpoint.id, url: endpoint.url, reason: why },
      dedupeKey: `endpoint.disabled:${endpoint.id}:${randomUUID()}`,
      at: now,
    });
    await dispatchEvent(deps, event);
  }

  return {
    /** Creates one delivery row per subscribed endpoint (idempotent) and returns the plan. */
    async planEventDeliveries(eventId: string): Promise<PlannedDelivery[]> {
      const event = await findEventById(deps.db, eventId);
      if (!event) throw ApplicationFailure.create({ type: 'EventNotFound', message: `event ${eventId} not found`, nonRetryable: true });
      const ids = await subscribedEndpointIds(deps.db, event);
      if (!ids.length) return [];
      const endpoints = await deps.db.selectFrom('endpoints').selectAll().where('id', 'in', ids).execute();
      const plan: PlannedDelivery[] = [];
      for (const endpoint of endpoints) {
        const deliveryId = await ensureDelivery(deps.db, {
          orgId: event.org_id,
          kind: 'endpoint',
          eventId: event.id,
          endpointId: endpoint.id,
          runId: event.run_id,
          url: endpoint.url,
          messageId: eventMessageId(event.id),
        });
        plan.push({ deliveryId, endpointId: endpoint.id, maxAttempts: endpoint.max_retries + 1, timeoutSeconds: endpoint.timeout_seconds });
      }
      return plan;
    },

    /**
     * One attempt at delivering an event to an endpoint: signed, with the endpoint's timeout,
     * headers and TLS setting; logged; classified. Temporal retries it on the schedule this
     * sets (nextRetryDelay), up to `maxAttempts`.
     */
    async deliverEvent(deliveryId: string, maxAttempts: number, resend = false): Promise<DeliveryResult> {
      const delivery = await deps.db.selectFrom('deliveries').selectAll().where('id', '=', deliveryId).executeTakeFirstOrThrow();
      // A worker that died after a successful POST retries into this: do not send it twice.
      if (delivery.status === 'succeeded' && !resend) return 'succeeded';
      const endpoint = await deps.db.selectFrom('endpoints').selectAll().where('id', '=', delivery.endpoint_id!).executeTakeFirstOrThrow();
      if (!endpoint.enabled || endpoint.deleted_at) return 'skipped';
      const event = await findEventById(deps.db, delivery.event_id!);
      if (!event) throw ApplicationFailure.create({ type: 'EventNotFound', message: `event ${delivery.event_id} not found`, nonRetryable: true });

      const temporalAttempt = Context.current().info.attempt;
      const last = await deps.db
        .selectFrom('delivery_attempts')
        .select((eb) => eb.fn.max('attempt').as('n'))
        .where('delivery_id', '=', delivery.id)
        .executeTakeFirst();
      const attempt = Number(last?.n ?? 0) + 1;

      const { response, outcome, startedAt, final, error } = await sendSignedAttempt(deps, {
        kind: 'endpoint',
        deliveryId: delivery.id,
        attempt,
        orgId: endpoint.org_id,
        secretOwner: endpointSecretOwner(endpoint.id),
        url: endpoint.url,
        msgId: delivery.message_id,
        body: deliveryBody(event, endpoint),
        customHeaders: openHeaders(deps.secrets, endpoint.headers),
        timeoutMs: endpoint.timeout_seconds * 1000,
        verifyTls: endpoint.verify_ssl,
        lastAttempt: temporalAttempt >= maxAttempts,
      });

      if (outcome === 'succeeded') {
        await deps.db
          .updateTable('endpoints')
          .set({ consecutive_failures: 0, failing_since: null, last_triggered_at: startedAt })
          .where('id', '=', endpoint.id)
          .execute();
        return 'succeeded';
      }
      const why = error ?? 'failed';
      await deps.db.updateTable('endpoints').set({ last_triggered_at: startedAt }).where('id', '=', endpoint.id).execute();
      if (resend) {
        // A manual retry is the customer checking their receiver: whatever it answers, it never
        // disables the endpoint nor counts toward ENDPOINT_DISABLE_AFTER_FAILURES.
        throw ApplicationFailure.create({ type: 'DeliveryFailed', message: `manual redelivery failed: ${why}`, nonRetryable: true });
      }
      if (final) {
        // 410 Gone is the receiver saying "never again": disable at once.
        await recordFinalFailure(endpoint, why, response.status === 410);
        throw ApplicationFailure.create({ type: 'DeliveryFailed', message: `delivery gave up: ${why}`, nonRetryable: true });
      }
      throw ApplicationFailure.create({
        type: 'DeliveryAttemptFailed',
        message: `delivery attempt ${attempt} failed: ${why}`,
        nextRetryDelay: nextDelayMs(deps.settings.retryScheduleMs, temporalAttempt, response.headers['retry-after']),
      });
    },
  };
}
