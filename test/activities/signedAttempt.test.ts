import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptOf, sendSignedAttempt, type AttemptResult, type SignedAttempt } from '../../activities/signedAttempt.js';
import { endpointSecretOwner } from '../../src/domain/deliveryPayload.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { deliveryFixtures } from './deliveryFixtures.js';

/** The signed send every delivery, callback and test ping goes through, with and without an activity around it. */

let stack: TestStack;
let receiver: Receiver;
let f: ReturnType<typeof deliveryFixtures>;

beforeAll(async () => {
  stack = await startTestStack({ worker: false });
  receiver = await startReceiver();
  const { orgId, apiKey } = await stack.newOrg('Signed attempts');
  f = deliveryFixtures(stack, apiKey, orgId);
});
afterAll(async () => {
  f?.deps.http.close?.();
  await receiver?.close();
  await stack?.close();
});

const env = (attempt = 1) => new MockActivityEnvironment({ attempt }, { logger: new DefaultLogger('ERROR') });

async function attemptTo(url: string, timeoutMs = 5_000) {
  const endpoint = await f.endpoint(url);
  const deliveryId = await f.delivery(endpoint.id, url);
  const { org_id: orgId } = await f.endpointRow(endpoint.id);
  const a: SignedAttempt = { kind: 'endpoint', orgId, secretOwner: endpointSecretOwner(endpoint.id), url, msgId: 'msg_test', body: '{"hello":"world"}', timeoutMs };
  return { a, deliveryId, secret: endpoint.secret };
}

describe('attemptOf', () => {
  it('counts Temporal\'s tries on from the input\'s first number, up to its budget', () => {
    expect(attemptOf({ trigger: 'scheduled', attempt: 1, maxAttempts: 3 }, 1)).toEqual({ number: 1, nth: 1, last: false });
    expect(attemptOf({ trigger: 'scheduled', attempt: 1, maxAttempts: 3 }, 3)).toEqual({ number: 3, nth: 3, last: true });
    expect(attemptOf({ trigger: 'manual', attempt: 7, maxAttempts: 1 }, 1)).toEqual({ number: 7, nth: 1, last: true });
  });
});

describe('sendSignedAttempt', () => {
  it('outside an activity (the test ping): signed, answered, nothing logged', async () => {
    const { a, deliveryId, secret } = await attemptTo(receiver.url);
    const result = await sendSignedAttempt(f.deps, a);
    expect(result).toMatchObject({ outcome: 'succeeded', final: true, error: null });
    const got = receiver.received.at(-1)!;
    expect(new Webhook(secret).verify(got.body, got.headers as Record<string, string>)).toEqual({ hello: 'world' });
    expect(got.headers['webhook-id']).toBe('msg_test');
    expect(await f.attempts(deliveryId)).toEqual([]);
  });

  it('inside an activity: logged as the given attempt, heartbeating while the receiver is slow', async () => {
    const slow = await startReceiver((req, res) => {
      req.resume();
      setTimeout(() => res.writeHead(503).end(), 2_500);
    });
    try {
      const { a, deliveryId } = await attemptTo(slow.url);
      const activity = env(2);
      let beats = 0;
      activity.on('heartbeat', () => beats++);
      const result = (await activity.run(async () => sendSignedAttempt(f.deps, { ...a, log: { deliveryId, attempt: 2, lastAttempt: false } }, activity.context))) as AttemptResult;
      expect(result).toMatchObject({ outcome: 'retry', final: false, error: 'HTTP 503' });
      expect(beats).toBeGreaterThanOrEqual(1);
      expect(await f.attempts(deliveryId)).toEqual([{ attempt: 2, status_code: 503, succeeded: false }]);
      expect((await f.deliveryRow(deliveryId)).status).toBe('pending');
    } finally {
      await slow.close();
    }
  });

  it('stops when the activity is cancelled', async () => {
    const silent = await startReceiver(() => {});
    try {
      const { a, deliveryId } = await attemptTo(silent.url, 30_000);
      const activity = env();
      setTimeout(() => activity.cancel(), 300);
      const result = (await activity.run(async () => sendSignedAttempt(f.deps, { ...a, log: { deliveryId, attempt: 1, lastAttempt: true } }, activity.context))) as AttemptResult;
      expect(result.response.error?.kind).toBe('aborted');
      expect(result).toMatchObject({ outcome: 'retry', final: true });
      expect((await f.deliveryRow(deliveryId)).status).toBe('failed');
    } finally {
      await silent.close();
    }
  });
});
