import type { Context } from '@temporalio/activity';
import { recordAttempt } from '../src/db/deliveries.js';
import { classify, describeOutcome, type Outcome } from '../src/domain/deliveryPolicy.js';
import { deliveryAttempts } from '../src/metrics.js';
import { webhookHeaders } from '../src/outbound/signing.js';
import type { OutboundResponse } from '../src/outbound/types.js';
import { secretsForSigning } from '../src/services/signingSecrets.js';
import type { ActivityDeps } from './deps.js';
import { untilStored, whileHeartbeating } from './heartbeat.js';
import type { EndpointAttemptEffect } from '../src/db/endpoints.js';
import type { Endpoint } from '../src/db/schema.js';

/**
 * What a delivery workflow hands each attempt activity: the single source of the attempt's
 * number, of whether it is the last one and of the delay before the next. Temporal's retries
 * of one activity execution count on from `attempt` (its Nth try is attempt + N − 1), up to
 * `maxAttempts`, which is also the retry policy's maximumAttempts.
 */
export interface AttemptPlan {
  /**
   * `scheduled`: the delivery's own attempts on the retry schedule; the last failure counts
   * toward disabling the endpoint. `manual`: a customer's retry (one attempt, sent even after a
   * success), which never counts toward disabling.
   */
  trigger: 'scheduled' | 'manual';
  /** The delivery-log number of this execution's first try (1 for a scheduled delivery; stored attempts + 1 for a manual one). */
  attempt: number;
  /** Tries this execution may make (the endpoint's max_retries + 1, the callback schedule's length + 1, or 1 when manual). */
  maxAttempts: number;
}

/** An event delivery's attempt, as `eventDelivery` / `redeliver` build it. */
export interface DeliveryAttemptInput extends AttemptPlan {
  deliveryId: string;
}

/** Where this try stands: its number in the delivery log, and whether no try follows it. */
export function attemptOf(plan: AttemptPlan, temporalAttempt: number): { number: number; nth: number; last: boolean } {
  return { number: plan.attempt + temporalAttempt - 1, nth: temporalAttempt, last: temporalAttempt >= plan.maxAttempts };
}

export interface SignedAttempt {
  kind: 'endpoint' | 'callback';
  orgId: string;
  /** Whose signing secrets sign it (an endpoint, or the org's callbacks). */
  secretOwner: string;
  url: string;
  msgId: string;
  body: string;
  customHeaders?: Record<string, string>;
  timeoutMs: number;
  verifyTls?: boolean;
  /** The delivery log entry this attempt becomes; absent for the endpoint test ping, which is answered, not stored. */
  log?: {
    deliveryId: string;
    attempt: number;
    /** No attempt follows this one if it fails (the retry budget is spent). */
    lastAttempt: boolean;
    /**
     * The endpoint it delivers to, recorded with the attempt: a success resets its failure
     * count, and the last failure of a delivery counts one unless `countsFailures` is false (a
     * customer's manual retry never counts toward disabling).
     */
    endpoint?: { id: string; countsFailures: boolean };
  };
}

export interface AttemptResult {
  response: OutboundResponse;
  outcome: Outcome;
  startedAt: Date;
  /** The delivery ends with this attempt: it succeeded, was refused for good, or was the last. */
  final: boolean;
  /** Why it failed, in the attempt log's words; null when it succeeded. */
  error: string | null;
  /** The endpoint as the recorded attempt left it (`log.endpoint` given). */
  endpoint?: Endpoint;
}

export type SignedAttemptDeps = Pick<ActivityDeps, 'db' | 'secrets' | 'http' | 'clock'>;

/**
 * One attempt at a Standard Webhooks POST, what endpoint deliveries, run callbacks and the
 * endpoint test ping share: signed with the owner's current secrets, sent, classified and,
 * when it belongs to a delivery, counted and logged as an attempt of it. Inside an activity
 * (`activity` given) it heartbeats while waiting and stops when the activity is cancelled, and
 * once the POST has gone out, retries the attempt's record while the database refuses it.
 * What follows (retry delay, disabling) is the caller's.
 */
export async function sendSignedAttempt(deps: SignedAttemptDeps, a: SignedAttempt, activity?: Context): Promise<AttemptResult> {
  const startedAt = deps.clock();
  const secrets = await secretsForSigning(deps.db, deps.secrets, a.orgId, a.secretOwner, startedAt);
  const sending = deps.http.send({
    url: a.url,
    method: 'POST',
    headers: webhookHeaders({ msgId: a.msgId, timestamp: startedAt, body: a.body, secrets, customHeaders: a.customHeaders }),
    body: a.body,
    timeoutMs: a.timeoutMs,
    verifyTls: a.verifyTls,
    signal: activity?.cancellationSignal,
  });
  const response = activity ? await whileHeartbeating(sending, () => activity.heartbeat()) : await sending;
  const outcome = classify(response);
  const final = outcome !== 'retry' || (a.log?.lastAttempt ?? true);
  const error = describeOutcome(response, a.url);
  let endpoint: Endpoint | undefined;
  if (a.log) {
    deliveryAttempts.inc({ kind: a.kind, outcome });
    const { log } = a;
    const effect: EndpointAttemptEffect = outcome === 'succeeded' ? 'succeeded' : final && log.endpoint?.countsFailures ? 'gave_up' : 'failed';
    const record = () =>
      recordAttempt(
        deps.db,
        {
          deliveryId: log.deliveryId,
          attempt: log.attempt,
          startedAt,
          statusCode: response.status,
          latencyMs: Math.round(response.latencyMs),
          responseExcerpt: response.body ? response.body.slice(0, 2048) : null,
          error,
          succeeded: outcome === 'succeeded',
          status: outcome === 'succeeded' ? 'succeeded' : final ? 'failed' : 'pending',
          at: deps.clock(),
        },
        log.endpoint && { id: log.endpoint.id, effect },
      );
    // The POST went out: its record is retried until the database takes it, never sent again.
    endpoint = activity ? await untilStored(activity, record, 'gone') : await record();
  }
  return { response, outcome, startedAt, final, error, endpoint };
}
