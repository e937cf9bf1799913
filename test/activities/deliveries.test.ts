import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeliveryActivities } from '../../activities/deliveries.js';
import { eventually } from '../support/http.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { deliveryFixtures } from './deliveryFixtures.js';

/** deliverEvent in a mocked activity context, against the real database and a real loopback receiver. */

let stack: TestStack;
let receiver: Receiver;
let f: ReturnType<typeof deliveryFixtures>;
let activities: ReturnType<typeof createDeliveryActivities>;

beforeAll(async () => {
  stack = await startTestStack({ worker: false, config: { ENDPOINT_DISABLE_AFTER_FAILURES: '1' } });
  receiver = await startReceiver();
  const { orgId, apiKey } = await stack.newOrg('Delivery activities');
  f = deliveryFixtures(stack, apiKey, orgId);
  activities = createDeliveryActivities(f.deps);
});
afterAll(async () => {
  f?.deps.http.close?.();
  await receiver?.close();
  await stack?.close();
});

/** Temporal's `attempt`th try of an activity execution (failures are expected here: logged only as errors). */
const env = (attempt = 1) => new MockActivityEnvironment({ attempt }, { logger: new DefaultLogger('ERROR') });
const failureOf = (promise: Promise<unknown>) => promise.then(() => expect.unreachable('the attempt should fail'), (err: unknown) => err as ApplicationFailure);

describe('deliverEvent', () => {
  it('numbers, times and ends scheduled attempts from its input and Temporal\'s attempt counter', async () => {
    const endpoint = await f.endpoint(receiver.url);
    const deliveryId = await f.delivery(endpoint.id, receiver.url);
    const input = { deliveryId, trigger: 'scheduled', attempt: 1, maxAttempts: 2 } as const;

    receiver.answer(500, 503);
    const first = await failureOf(env(1).run(activities.deliverEvent, input));
    expect(first).toMatchObject({ type: 'DeliveryAttemptFailed', nonRetryable: false });
    expect(Number(first.nextRetryDelay)).toBeGreaterThan(0);
    expect((await f.deliveryRow(deliveryId)).status).toBe('pending');
    expect((await f.endpointRow(endpoint.id)).consecutive_failures).toBe(0);

    // Temporal's second try of the same execution: the last of a budget of 2, so it gives up and counts.
    const last = await failureOf(env(2).run(activities.deliverEvent, input));
    expect(last).toMatchObject({ type: 'DeliveryFailed', nonRetryable: true });
    expect(await f.attempts(deliveryId)).toEqual([
      { attempt: 1, status_code: 500, succeeded: false },
      { attempt: 2, status_code: 503, succeeded: false },
    ]);
    expect((await f.deliveryRow(deliveryId)).status).toBe('failed');
    const disabled = await f.endpointRow(endpoint.id);
    expect(disabled).toMatchObject({ enabled: false, consecutive_failures: 1 }); // ENDPOINT_DISABLE_AFTER_FAILURES=1
  });

  it('a manual retry is one attempt with the number it was given, and never counts toward disabling', async () => {
    const endpoint = await f.endpoint(receiver.url, { max_retries: 0 });
    const deliveryId = await f.delivery(endpoint.id, receiver.url);
    receiver.answer(500, 500, 500);
    // Three failed manual retries with a disable threshold of one: the endpoint stays enabled and uncounted.
    for (const attempt of [1, 2, 3]) {
      const failure = await failureOf(env(1).run(activities.deliverEvent, { deliveryId, trigger: 'manual' as const, attempt, maxAttempts: 1 }));
      expect(failure).toMatchObject({ type: 'DeliveryFailed', nonRetryable: true, message: 'manual redelivery failed: HTTP 500' });
    }
    expect(await f.endpointRow(endpoint.id)).toMatchObject({ enabled: true, consecutive_failures: 0, failing_since: null });
    // A manual retry goes out even after a success (the scheduled path would not send twice).
    expect(await env().run(activities.deliverEvent, { deliveryId, trigger: 'manual' as const, attempt: 4, maxAttempts: 1 })).toBe('succeeded');
    const before = receiver.received.length;
    expect(await env().run(activities.deliverEvent, { deliveryId, trigger: 'scheduled' as const, attempt: 1, maxAttempts: 1 })).toBe('succeeded');
    expect(receiver.received.length).toBe(before);
    expect((await f.attempts(deliveryId)).map((a) => [a.attempt, a.status_code])).toEqual([[1, 500], [2, 500], [3, 500], [4, 200]]);
  });

  it('still takes the positional arguments that workflows started before the input send', async () => {
    const endpoint = await f.endpoint(receiver.url);
    const deliveryId = await f.delivery(endpoint.id, receiver.url);
    receiver.answer(500);
    const failure = await failureOf(env(1).run(activities.deliverEvent, deliveryId, 3));
    expect(failure).toMatchObject({ type: 'DeliveryAttemptFailed', nonRetryable: false });
    // The old manual form: numbered after what is stored.
    expect(await env().run(activities.deliverEvent, deliveryId, 1, true)).toBe('succeeded');
    expect((await f.attempts(deliveryId)).map((a) => [a.attempt, a.status_code])).toEqual([[1, 500], [2, 200]]);
    expect(await env().run(activities.nextAttemptOf, { deliveryId })).toBe(3);
  });

  it('two deliveries to one endpoint go over one keep-alive TCP connection', async () => {
    const own = await startReceiver();
    try {
      const endpoint = await f.endpoint(own.url);
      for (let i = 0; i < 2; i++) {
        const deliveryId = await f.delivery(endpoint.id, own.url);
        expect(await env().run(activities.deliverEvent, { deliveryId, trigger: 'scheduled' as const, attempt: 1, maxAttempts: 3 })).toBe('succeeded');
      }
      expect(own.received).toHaveLength(2);
      expect(own.connections).toBe(1);
    } finally {
      await own.close();
    }
  });

  it("records a delivery's last failure and the endpoint's count in one transaction, retried until the database takes it, without sending again", async () => {
    const own = await startReceiver();
    const endpoint = await f.endpoint(own.url, { max_retries: 0 });
    const deliveryId = await f.delivery(endpoint.id, own.url);
    // The endpoint's row refuses the failure count: the database failing between the two writes.
    const refuse = `refuse_count_${endpoint.id.replaceAll('-', '')}`;
    await sql.raw(`create function ${refuse}() returns trigger language plpgsql as $$ begin if new.consecutive_failures > old.consecutive_failures then raise exception 'count refused'; end if; return new; end $$`).execute(f.deps.db);
    await sql.raw(`create trigger ${refuse} before update on endpoints for each row when (new.id = '${endpoint.id}') execute function ${refuse}()`).execute(f.deps.db);
    let dropped = false;
    const drop = async () => {
      if (dropped) return;
      dropped = true;
      await sql.raw(`drop trigger ${refuse} on endpoints`).execute(f.deps.db);
      await sql.raw(`drop function ${refuse}()`).execute(f.deps.db);
    };
    try {
      own.answer(500);
      const gaveUp = failureOf(env(1).run(activities.deliverEvent, { deliveryId, trigger: 'scheduled' as const, attempt: 1, maxAttempts: 1 }));
      await eventually(async () => (own.received.length === 1 ? true : undefined), 'the POST');
      // Recordings are refused (retried after 200, 400, 800 ms): nothing of the attempt is stored,
      // not the failed status without its count.
      await new Promise((r) => setTimeout(r, 700));
      expect((await f.deliveryRow(deliveryId)).status).toBe('pending');
      expect(await f.attempts(deliveryId)).toEqual([]);
      expect(await f.endpointRow(endpoint.id)).toMatchObject({ enabled: true, consecutive_failures: 0 });

      await drop();
      expect(await gaveUp).toMatchObject({ type: 'DeliveryFailed', nonRetryable: true });
      expect(await f.attempts(deliveryId)).toEqual([{ attempt: 1, status_code: 500, succeeded: false }]);
      expect((await f.deliveryRow(deliveryId)).status).toBe('failed');
      expect(await f.endpointRow(endpoint.id)).toMatchObject({ enabled: false, consecutive_failures: 1 }); // ENDPOINT_DISABLE_AFTER_FAILURES=1
      expect(own.received).toHaveLength(1);
    } finally {
      await drop();
      await own.close();
    }
  });
});
