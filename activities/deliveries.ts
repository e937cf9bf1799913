import { addDeliveryThrottle, takeSendTurn } from '../src/db/endpointRateLimits.js';
import { disableEndpoint, findEndpointById, findEndpointsByIds } from '../src/db/endpoints.js';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ensureDelivery, findCallbackDelivery, findDeliveryById, nextAttemptNumber } from '../src/db/deliveries.js';
import { findEventById, storeEvent } from '../src/db/events.js';
import type { Endpoint } from '../src/db/schema.js';
import { nextDelayMs } from '../src/domain/deliveryPolicy.js';
import { deliveryBody, endpointSecretOwner, messageId } from '../src/domain/deliveryPayload.js';
import { dispatchEvent, subscribedEndpointIds } from '../src/services/eventDispatch.js';
import { emit } from '../src/domain/eventTypes.js';
import { openHeaders } from '../src/secrets/box.js';
import type { ActivityDeps } from './deps.js';
import { attemptOf, sendSignedAttempt, type DeliveryAttemptInput } from './signedAttempt.js';

export type { DeliveryAttemptInput } from './signedAttempt.js';

/** One endpoint's share of an event: what the workflow needs to schedule its delivery. */
export interface PlannedDelivery {
  deliveryId: string;
  endpointId: string;
  maxAttempts: number;
  timeoutSeconds: number;
}

export type DeliveryResult = 'succeeded' | 'skipped';

export function createDeliveryActivities(deps: ActivityDeps) {
  /** A delivery gave up for good (`endpoint`: with that failure counted): disable a hopeless endpoint. */
  async function disableIfHopeless(endpoint: Endpoint, reason: string, forceDisable: boolean) {
    const now = deps.clock();
    const failingForADay = endpoint.failing_since !== null && now.getTime() - endpoint.failing_since.getTime() >= 24 * 3_600_000;
    if (!forceDisable && endpoint.consecutive_failures < deps.settings.disableAfterFailures && !failingForADay) return;
    const why = forceDisable ? reason : `${endpoint.consecutive_failures} deliveries in a row failed (last: ${reason})`;
    if (!(await disableEndpoint(deps.db, endpoint.id, why, now))) return;
    // The activity logger carries the workflow id, run id and activity type with the line.
    Context.current().log.warn('endpoint disabled', { endpoint_id: endpoint.id, reason: why });
    const { event } = await storeEvent(deps.db, {
      orgId: endpoint.org_id,
      agentId: null,
      runId: null,
      ...emit('endpoint.disabled', { endpoint_id: endpoint.id, url: endpoint.url, reason: why }),
      dedupeKey: `endpoint.disabled:${endpoint.id}:${randomUUID()}`,
      at: now,
    });
    await dispatchEvent(deps, event);
  }

  /**
   * The endpoint's rate_limit_per_second at the moment of sending: the workflow already waited
   * for its reserved turn on a durable timer, but timers that fire late (a busy or restarted
   * worker) would send their backlog at once; this keeps actual sends 1/rate apart across every
   * worker, retries and recoveries included. The wait heartbeats and shows in throttled_ms.
   */
  async function waitForSendTurn(endpointId: string, deliveryId: string, context: Context): Promise<void> {
    let waited = 0;
    for (let wait = await takeSendTurn(deps.db, endpointId); wait > 0; wait = await takeSendTurn(deps.db, endpointId)) {
      context.heartbeat();
      await context.sleep(wait);
      waited += wait;
    }
    if (waited > 0) await addDeliveryThrottle(deps.db, deliveryId, waited);
  }

  return {
    /** Creates one delivery row per subscribed endpoint (idempotent) and returns the plan; `endpointIds`: the ones dispatchEvent found. */
    async planEventDeliveries(eventId: string, endpointIds?: string[]): Promise<PlannedDelivery[]> {
      const event = await findEventById(deps.db, eventId);
      if (!event) throw ApplicationFailure.create({ type: 'EventNotFound', message: `event ${eventId} not found`, nonRetryable: true });
      const ids = endpointIds ?? (await subscribedEndpointIds(deps.db, event));
      if (!ids.length) return [];
      const endpoints = await findEndpointsByIds(deps.db, ids);
      const plan: PlannedDelivery[] = [];
      for (const endpoint of endpoints) {
        const deliveryId = await ensureDelivery(deps.db, {
          orgId: event.org_id,
          kind: 'endpoint',
          eventId: event.id,
          endpointId: endpoint.id,
          runId: event.run_id,
          url: endpoint.url,
          messageId: messageId(event.id),
        });
        plan.push({ deliveryId, endpointId: endpoint.id, maxAttempts: endpoint.max_retries + 1, timeoutSeconds: endpoint.timeout_seconds });
      }
      return plan;
    },

    /**
     * The delivery-log number a customer's retry gets (the stored attempts + 1), read once by
     * the workflow when its starter did not say: the attempt activity then only counts on from it.
     */
    async nextAttemptOf(ref: { deliveryId: string } | { callbackOfRun: string }): Promise<number> {
      const deliveryId = 'deliveryId' in ref ? ref.deliveryId : (await findCallbackDelivery(deps.db, ref.callbackOfRun))?.id;
      return deliveryId ? nextAttemptNumber(deps.db, deliveryId) : 1;
    },

    /**
     * One attempt at delivering an event to an endpoint: signed, with the endpoint's timeout,
     * headers and TLS setting; logged; classified. Its number, whether it is the last and the
     * delay before the next come from the workflow's input and Temporal's attempt counter
     * (`attemptOf`); Temporal retries it on the schedule this sets (nextRetryDelay).
     * The positional form is what workflows started before the input existed still send.
     */
    async deliverEvent(input: DeliveryAttemptInput | string, legacyMaxAttempts = 1, legacyResend = false): Promise<DeliveryResult> {
      const plan: DeliveryAttemptInput =
        typeof input === 'string'
          ? legacyResend
            ? { deliveryId: input, trigger: 'manual', attempt: await nextAttemptNumber(deps.db, input), maxAttempts: 1 }
            : { deliveryId: input, trigger: 'scheduled', attempt: 1, maxAttempts: legacyMaxAttempts }
          : input;
      const manual = plan.trigger === 'manual';
      const delivery = await findDeliveryById(deps.db, plan.deliveryId);
      // A worker that died after a successful POST retries into this: do not send it twice.
      if (delivery.status === 'succeeded' && !manual) return 'succeeded';
      const endpoint = await findEndpointById(deps.db, delivery.endpoint_id!);
      if (!endpoint.enabled || endpoint.deleted_at) return 'skipped';
      const event = await findEventById(deps.db, delivery.event_id!);
      if (!event) throw ApplicationFailure.create({ type: 'EventNotFound', message: `event ${delivery.event_id} not found`, nonRetryable: true });

      const context = Context.current();
      const attempt = attemptOf(plan, context.info.attempt);
      if (endpoint.rate_limit_per_second) await waitForSendTurn(endpoint.id, delivery.id, context);
      const { response, outcome, final, error, endpoint: counted } = await sendSignedAttempt(
        deps,
        {
          kind: 'endpoint',
          orgId: endpoint.org_id,
          secretOwner: endpointSecretOwner(endpoint.id),
          url: endpoint.url,
          msgId: delivery.message_id,
          body: deliveryBody(event, endpoint),
          customHeaders: openHeaders(deps.secrets, endpoint.headers),
          timeoutMs: endpoint.timeout_seconds * 1000,
          verifyTls: endpoint.verify_ssl,
          log: { deliveryId: delivery.id, attempt: attempt.number, lastAttempt: attempt.last, endpoint: { id: endpoint.id, countsFailures: !manual } },
        },
        context,
      );

      // The attempt's record has already reset or counted the endpoint's failures, in its transaction.
      if (outcome === 'succeeded') return 'succeeded';
      const why = error ?? 'failed';
      if (manual) {
        // A manual retry is the customer checking their receiver: whatever it answers, it never
        // disables the endpoint nor counts toward ENDPOINT_DISABLE_AFTER_FAILURES.
        throw ApplicationFailure.create({ type: 'DeliveryFailed', message: `manual redelivery failed: ${why}`, nonRetryable: true });
      }
      if (final) {
        // 410 Gone is the receiver saying "never again": disable at once.
        if (counted) await disableIfHopeless(counted, why, response.status === 410);
        throw ApplicationFailure.create({ type: 'DeliveryFailed', message: `delivery gave up: ${why}`, nonRetryable: true });
      }
      throw ApplicationFailure.create({
        type: 'DeliveryAttemptFailed',
        message: `delivery attempt ${attempt.number} failed: ${why}`,
        nextRetryDelay: nextDelayMs(deps.settings.retryScheduleMs, attempt.nth, response.headers['retry-after']),
      });
    },
  };
}
