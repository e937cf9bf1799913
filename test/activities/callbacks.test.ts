import { Webhook } from 'standardwebhooks';
import type { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCallbackActivities } from '../../activities/callbacks.js';
import { createDeliveryActivities } from '../../activities/deliveries.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { deliveryFixtures } from './deliveryFixtures.js';

/** deliverCallback in a mocked activity context, against the real database and a real loopback receiver. */

let stack: TestStack;
let receiver: Receiver;
let f: ReturnType<typeof deliveryFixtures>;
let activities: ReturnType<typeof createCallbackActivities> & ReturnType<typeof createDeliveryActivities>;
let secret: string;

beforeAll(async () => {
  // A schedule of three steps: a budget recomputed from it would be 4 attempts, not the input's.
  stack = await startTestStack({ worker: false, config: { DELIVERY_RETRY_SCHEDULE: '1s,2s,3s' } });
  receiver = await startReceiver();
  const { orgId, apiKey } = await stack.newOrg('Callback activities');
  secret = (await stack.api('/v1/callback-secret/rotate', { key: apiKey, method: 'POST' })).body.secret;
  f = deliveryFixtures(stack, apiKey, orgId);
  activities = { ...createCallbackActivities(f.deps), ...createDeliveryActivities(f.deps) };
});
afterAll(async () => {
  f?.deps.http.close?.();
  await receiver?.close();
  await stack?.close();
});

const env = (attempt = 1) => new MockActivityEnvironment({ attempt }, { logger: new DefaultLogger('ERROR') });
const failureOf = (promise: Promise<unknown>) => promise.then(() => expect.unreachable('the attempt should fail'), (err: unknown) => err as ApplicationFailure);
const callbackOf = (runId: string) => f.deps.db.selectFrom('deliveries').selectAll().where('run_id', '=', runId).where('kind', '=', 'callback').executeTakeFirstOrThrow();

describe('deliverCallback', () => {
  it('takes its budget from the workflow\'s input, not from the retry schedule', async () => {
    const runId = await f.finishedRun(`${receiver.url}?cb`);
    const input = { runId, trigger: 'scheduled', attempt: 1, maxAttempts: 2 } as const;
    receiver.answer(500, 502);
    const first = await failureOf(env(1).run(activities.deliverCallback, input));
    expect(first).toMatchObject({ type: 'CallbackFailed', message: 'callback attempt 1 failed: HTTP 500' });
    expect((await callbackOf(runId)).status).toBe('pending');
    await failureOf(env(2).run(activities.deliverCallback, input));
    // The second of two: the delivery ends failed although the schedule would allow two more.
    const delivery = await callbackOf(runId);
    expect(delivery).toMatchObject({ status: 'failed', attempts: 2 });
    expect((await f.attempts(delivery.id)).map((a) => [a.attempt, a.status_code])).toEqual([[1, 500], [2, 502]]);

    // A customer's retry: numbered by the workflow (nextAttemptOf), sent, signed with the org's callback secret.
    const attempt = (await env().run(activities.nextAttemptOf, { callbackOfRun: runId })) as number;
    expect(attempt).toBe(3);
    await env().run(activities.deliverCallback, { runId, trigger: 'manual' as const, attempt, maxAttempts: 1 });
    const got = receiver.received.at(-1)!;
    expect(new Webhook(secret).verify(got.body, got.headers as Record<string, string>)).toMatchObject({ run_key: runId, status: 'completed' });
    expect((await f.attempts(delivery.id)).map((a) => [a.attempt, a.status_code])).toEqual([[1, 500], [2, 502], [3, 200]]);
    expect((await callbackOf(runId)).status).toBe('succeeded');
  });

  it('a manual retry that fails is not retried; the legacy positional form still works', async () => {
    const runId = await f.finishedRun(`${receiver.url}?cb`);
    receiver.answer(503);
    const failure = await failureOf(env().run(activities.deliverCallback, { runId, trigger: 'manual' as const, attempt: 1, maxAttempts: 1 }));
    expect(failure).toMatchObject({ type: 'CallbackRejected', nonRetryable: true });
    // As workflows started before the input call it: (runId, manual).
    await env().run(activities.deliverCallback, runId, true);
    const delivery = await callbackOf(runId);
    expect((await f.attempts(delivery.id)).map((a) => [a.attempt, a.status_code])).toEqual([[1, 503], [2, 200]]);
    // And a scheduled legacy attempt after the success sends nothing more.
    const before = receiver.received.length;
    await env().run(activities.deliverCallback, runId);
    expect(receiver.received.length).toBe(before);
  });
});
