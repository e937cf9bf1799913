import { Context } from '@temporalio/activity';
import { recordAttempt } from '../src/db/deliveries.js';
import { classify, describeOutcome, type Outcome } from '../src/domain/deliveryPolicy.js';
import { deliveryAttempts } from '../src/metrics.js';
import { webhookHeaders } from '../src/outbound/signing.js';
import type { OutboundResponse } from '../src/outbound/types.js';
import { secretsForSigning } from '../src/services/signingSecrets.js';
import type { ActivityDeps } from './deps.js';
import { whileHeartbeating } from './heartbeat.js';

export interface SignedAttempt {
  kind: 'endpoint' | 'callback';
  deliveryId: string;
  attempt: number;
  orgId: string;
  /** Whose signing secrets sign it (an endpoint, or the org's callbacks). */
  secretOwner: string;
  url: string;
  msgId: string;
  body: string;
  customHeaders?: Record<string, string>;
  timeoutMs: number;
  verifyTls?: boolean;
  /** No attempt follows this one if it fails (the retry budget is spent). */
  lastAttempt: boolean;
}

export interface AttemptResult {
  response: OutboundResponse;
  outcome: Outcome;
  startedAt: Date;
  /** The delivery ends with this attempt: it succeeded, was refused for good, or was the last. */
  final: boolean;
  /** Why it failed, in the attempt log's words; null when it succeeded. */
  error: string | null;
}

/**
 * One attempt at a Standard Webhooks POST, what endpoint deliveries and run callbacks share:
 * signed with the owner's current secrets, sent while heartbeating, classified, counted and
 * logged as an attempt of its delivery. What follows (retry delay, disabling) is the caller's.
 */
export async function sendSignedAttempt(deps: ActivityDeps, a: SignedAttempt): Promise<AttemptResult> {
  const startedAt = deps.clock();
  const secrets = await secretsForSigning(deps.db, deps.secrets, a.orgId, a.secretOwner, startedAt);
  const response = await whileHeartbeating(
    deps.http.send({
      url: a.url,
      method: 'POST',
      headers: webhookHeaders({ msgId: a.msgId, timestamp: startedAt, body: a.body, secrets, customHeaders: a.customHeaders }),
      body: a.body,
      timeoutMs: a.timeoutMs,
      verifyTls: a.verifyTls,
      signal: Context.current().cancellationSignal,
    }),
  );
  const outcome = classify(response);
  deliveryAttempts.inc({ kind: a.kind, outcome });
  const final = outcome !== 'retry' || a.lastAttempt;
  const error = describeOutcome(response, a.url);
  await recordAttempt(deps.db, {
    deliveryId: a.deliveryId,
    attempt: a.attempt,
    startedAt,
    statusCode: response.status,
    latencyMs: Math.round(response.latencyMs),
    responseExcerpt: response.body ? response.body.slice(0, 2048) : null,
    error,
    succeeded: outcome === 'succeeded',
    status: outcome === 'succeeded' ? 'succeeded' : final ? 'failed' : 'pending',
  });
  return { response, outcome, startedAt, final, error };
}
