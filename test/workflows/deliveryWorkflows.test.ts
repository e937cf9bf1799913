import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Activities } from '../../activities/index.js';
import type { PlannedDelivery } from '../../activities/deliveries.js';
import { createLogger } from '../../src/logger.js';
import { installRuntime } from '../../src/temporal/worker.js';
import type { eventDelivery, redeliver, runCallback } from '../../workflows/index.js';

/**
 * eventDelivery, redeliver and runCallback on the real dev server with their activities
 * replaced: what input each attempt gets, how many tries Temporal makes from it, and what the
 * workflow concludes. (The time-skipping server cannot be downloaded here: retries are real,
 * with delays of a few milliseconds asked through nextRetryDelay.)
 */

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  installRuntime(createLogger('silent', 'test'));
  env = await TestWorkflowEnvironment.createFromExistingServer({ address: inject('temporalAddress'), namespace: 'default' });
});
afterAll(async () => {
  await env?.teardown();
});

type Call = { activity: string; args: unknown[]; try: number };

/** Runs one workflow on a worker whose activities are `mocks` (plus slots and rate-limit turns that are always free), recording every call. */
async function run<T>(mocks: Partial<Record<keyof Activities, (...args: any[]) => unknown>>, start: (taskQueue: string) => Promise<T>) {
  const calls: Call[] = [];
  const record = (activity: string, fn: (...args: any[]) => unknown) => async (...args: unknown[]) => {
    calls.push({ activity, args, try: Context.current().info.attempt });
    return fn(...args);
  };
  const activities: Record<string, (...args: unknown[]) => Promise<unknown>> = {
    acquireEndpointSlot: async () => true,
    releaseEndpointSlot: async () => undefined,
    // No rate_limit_per_second on these endpoints: every delivery's turn is now.
    reserveDeliverySlot: async () => 0,
  };
  for (const [name, fn] of Object.entries(mocks)) activities[name] = record(name, fn!);
  const taskQueue = `wf-test-${randomUUID()}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: { codePath: inject('workflowBundlePath') }, activities });
  const outcome = await worker.runUntil(start(taskQueue).then((value) => ({ value }), (error: Error) => ({ error })));
  return { calls, outcome: outcome as { value?: Awaited<T>; error?: Error } };
}

const retryable = (message: string) => ApplicationFailure.create({ type: 'DeliveryAttemptFailed', message, nextRetryDelay: 10 });
const gaveUp = (message: string) => ApplicationFailure.create({ type: 'DeliveryFailed', message, nonRetryable: true });
const triesOf = (calls: Call[], activity: string, key: (args: unknown[]) => unknown) => calls.filter((c) => c.activity === activity).map((c) => [key(c.args), c.try]);

describe('eventDelivery', () => {
  it('gives each endpoint one attempt input; Temporal retries it up to the input\'s maxAttempts', async () => {
    const plan: PlannedDelivery[] = [
      { deliveryId: 'recovers', endpointId: 'e1', maxAttempts: 3, timeoutSeconds: 5 },
      { deliveryId: 'refused', endpointId: 'e2', maxAttempts: 3, timeoutSeconds: 5 },
      { deliveryId: 'exhausted', endpointId: 'e3', maxAttempts: 2, timeoutSeconds: 5 },
      { deliveryId: 'gone', endpointId: 'e4', maxAttempts: 1, timeoutSeconds: 5 },
    ];
    const { calls, outcome } = await run(
      {
        planEventDeliveries: async () => plan,
        deliverEvent: async (input: { deliveryId: string }) => {
          const nth = Context.current().info.attempt;
          if (input.deliveryId === 'recovers') {
            if (nth < 3) throw retryable(`attempt ${nth} failed`);
            return 'succeeded';
          }
          if (input.deliveryId === 'refused') throw gaveUp('delivery gave up: HTTP 410');
          if (input.deliveryId === 'gone') return 'skipped';
          throw retryable(`attempt ${nth} failed`);
        },
      },
      (taskQueue) => env.client.workflow.execute<typeof eventDelivery>('eventDelivery', { taskQueue, workflowId: `event-${randomUUID()}`, args: [{ eventId: 'ev' }] }),
    );
    expect(outcome.value).toEqual({ delivered: 1, failed: 2, skipped: 1 });
    const inputs = calls.filter((c) => c.activity === 'deliverEvent' && c.try === 1).map((c) => c.args);
    expect(inputs).toEqual(
      expect.arrayContaining(plan.map((p) => [{ deliveryId: p.deliveryId, trigger: 'scheduled', attempt: 1, maxAttempts: p.maxAttempts }])),
    );
    const tries = triesOf(calls, 'deliverEvent', (args) => (args[0] as { deliveryId: string }).deliveryId);
    expect(tries.filter(([id]) => id === 'recovers').map(([, n]) => n)).toEqual([1, 2, 3]);
    expect(tries.filter(([id]) => id === 'refused').map(([, n]) => n)).toEqual([1]);
    expect(tries.filter(([id]) => id === 'exhausted').map(([, n]) => n)).toEqual([1, 2]);
  });
});

describe('redeliver', () => {
  it('numbers an unnumbered retry once, sends one manual attempt, and fails without retrying', async () => {
    const { calls, outcome } = await run(
      {
        nextAttemptOf: async () => 5,
        deliverEvent: async () => {
          throw gaveUp('manual redelivery failed: HTTP 500');
        },
      },
      (taskQueue) => env.client.workflow.execute<typeof redeliver>('redeliver', { taskQueue, workflowId: `redeliver-${randomUUID()}`, args: [{ deliveryId: 'd1' }] }),
    );
    expect(outcome.error).toBeDefined();
    expect(calls.map((c) => [c.activity, c.args, c.try])).toEqual([
      ['nextAttemptOf', [{ deliveryId: 'd1' }], 1],
      ['deliverEvent', [{ deliveryId: 'd1', trigger: 'manual', attempt: 5, maxAttempts: 1 }], 1],
    ]);
  });

  it('takes the number its starter gives without reading one', async () => {
    const { calls, outcome } = await run(
      { nextAttemptOf: async () => 99, deliverEvent: async () => 'succeeded' },
      (taskQueue) => env.client.workflow.execute<typeof redeliver>('redeliver', { taskQueue, workflowId: `redeliver-${randomUUID()}`, args: [{ deliveryId: 'd2', attempt: 3 }] }),
    );
    expect(outcome.value).toBe('succeeded');
    expect(calls.map((c) => [c.activity, c.args])).toEqual([['deliverEvent', [{ deliveryId: 'd2', trigger: 'manual', attempt: 3, maxAttempts: 1 }]]]);
  });
});

describe('runCallback', () => {
  it('a scheduled callback gets the budget computed when the run started, and Temporal stops there', async () => {
    const { calls, outcome } = await run(
      {
        deliverCallback: async () => {
          throw retryable(`callback attempt ${Context.current().info.attempt} failed`);
        },
      },
      (taskQueue) => env.client.workflow.execute<typeof runCallback>('runCallback', { taskQueue, workflowId: `callback-${randomUUID()}`, args: [{ runId: 'r1', maxAttempts: 2 }] }),
    );
    expect(outcome.error).toBeDefined();
    expect(calls.map((c) => [c.args, c.try])).toEqual([
      [[{ runId: 'r1', trigger: 'scheduled', attempt: 1, maxAttempts: 2 }], 1],
      [[{ runId: 'r1', trigger: 'scheduled', attempt: 1, maxAttempts: 2 }], 2],
    ]);
  });

  it('a manual retry is numbered once and sent once', async () => {
    const { calls, outcome } = await run(
      { nextAttemptOf: async () => 4, deliverCallback: async () => undefined },
      (taskQueue) =>
        env.client.workflow.execute<typeof runCallback>('runCallback', { taskQueue, workflowId: `callback-retry-${randomUUID()}`, args: [{ runId: 'r2', maxAttempts: 1, manual: true }] }),
    );
    expect(outcome.error).toBeUndefined();
    expect(calls.map((c) => [c.activity, c.args])).toEqual([
      ['nextAttemptOf', [{ callbackOfRun: 'r2' }]],
      ['deliverCallback', [{ runId: 'r2', trigger: 'manual', attempt: 4, maxAttempts: 1 }]],
    ]);
  });
});
